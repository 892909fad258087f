// The part of oidc-provider (which ships no types) that test/node/oidc-issuer.ts uses.
declare module "oidc-provider" {
  import type { IncomingMessage, ServerResponse } from "node:http";
  import type { JWK } from "jose";

  interface ResourceServer {
    scope: string;
    audience: string;
    accessTokenFormat: "jwt" | "opaque";
    accessTokenTTL?: number;
    jwt?: { sign?: { alg: string } };
  }

  interface Configuration {
    jwks: { keys: JWK[] };
    clients: Record<string, unknown>[];
    features: {
      devInteractions?: { enabled: boolean };
      clientCredentials?: { enabled: boolean };
      resourceIndicators?: {
        enabled: boolean;
        defaultResource?: (ctx: unknown) => string | undefined;
        useGrantedResource?: (ctx: unknown) => boolean;
        getResourceServerInfo: (ctx: unknown, resource: string, client: unknown) => ResourceServer;
      };
    };
    ttl?: Record<string, number>;
    extraTokenClaims?: (ctx: unknown, token: unknown) => Record<string, unknown>;
    formats?: {
      customizers?: {
        jwt?: (ctx: unknown, token: unknown, jwt: { header?: Record<string, unknown>; payload: Record<string, unknown> }) => void;
      };
    };
  }

  export default class Provider {
    constructor(issuer: string, configuration: Configuration);
    callback(): (request: IncomingMessage, response: ServerResponse) => void;
  }
}
