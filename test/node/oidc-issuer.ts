import { type Server, createServer } from "node:http";
import { type JWK, exportJWK, generateKeyPair } from "jose";
import Provider from "oidc-provider";

declare module "vitest" {
  export interface ProvidedContext {
    /** The port the OpenID provider playing GitHub Actions listens on (attester github-actions). */
    oidcPort: number;
    /** A port nothing listens on: the issuer of attester offline-ci, always down. */
    oidcDownPort: number;
  }
}

/** What the job asking for a token is: the GitHub Actions claims its token carries. */
export type JobClaims = Record<string, string>;

export interface TokenRequest {
  /** The claims of the running job (repository, sha, ref, job_workflow_ref...). */
  job: JobClaims;
  /** The resource indicator (RFC 8707): becomes the token's `aud`. */
  audience: string;
  alg?: "RS256" | "ES256";
  /** Moves iat, nbf and exp this many seconds into the past (an expired token, still signed by the issuer). */
  ageSeconds?: number;
}

export interface LocalIssuer {
  issuer: string;
  token(request: TokenRequest): Promise<string>;
  close(): Promise<void>;
}

const CLIENT = { client_id: "release-job", client_secret: "release-job-secret" };

/**
 * A real OpenID provider (panva's oidc-provider, OpenID Certified) on 127.0.0.1, issuing
 * client-credentials access tokens in JWT format shaped like GitHub Actions' OIDC tokens:
 * `aud` from the resource indicator, the job's claims (extraTokenClaims), header `typ: JWT`
 * with an `x5t` beside the `kid`, and `nbf`, as GitHub sends them. Keys: one RSA (RS256,
 * GitHub's) and one P-256 (ES256), published at its discovery document's jwks_uri.
 */
export async function startIssuer(port: number): Promise<LocalIssuer> {
  const issuer = `http://127.0.0.1:${port}`;
  const rsa = await generateKeyPair("RS256", { extractable: true });
  const ec = await generateKeyPair("ES256", { extractable: true });
  const keys: JWK[] = [
    { ...(await exportJWK(rsa.privateKey)), kid: "gha-rsa-1", alg: "RS256", use: "sig" },
    { ...(await exportJWK(ec.privateKey)), kid: "gha-ec-1", alg: "ES256", use: "sig" },
  ];
  // The request being served: token() sets it, then asks the provider (one request at a time).
  let pending: TokenRequest | null = null;
  const provider = new Provider(issuer, {
    jwks: { keys },
    clients: [{ ...CLIENT, grant_types: ["client_credentials"], redirect_uris: [], response_types: [], token_endpoint_auth_method: "client_secret_post" }],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource) => ({
          scope: "id-token",
          audience: resource,
          accessTokenFormat: "jwt",
          accessTokenTTL: 300,
          jwt: { sign: { alg: pending?.alg ?? "RS256" } },
        }),
      },
    },
    ttl: { ClientCredentials: 300 },
    extraTokenClaims: () => pending?.job ?? {},
    formats: {
      customizers: {
        jwt: (_ctx, _token, jwt) => {
          jwt.header = { typ: "JWT", x5t: "Lb7V7vEjVqLNCCa9B8i9XqZ5Lb0" };
          const age = pending?.ageSeconds ?? 0;
          const payload = jwt.payload as Record<string, number>;
          payload.iat = (payload.iat as number) - age;
          payload.nbf = payload.iat;
          payload.exp = (payload.exp as number) - age;
        },
      },
    },
  });
  const server: Server = createServer(provider.callback());
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));

  return {
    issuer,
    async token(request) {
      pending = request;
      try {
        const response = await fetch(`${issuer}/token`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ grant_type: "client_credentials", ...CLIENT, resource: request.audience, scope: "id-token" }),
        });
        const body = (await response.json()) as { access_token?: string; error?: string; error_description?: string };
        if (!body.access_token) throw new Error(`the issuer refused: ${body.error} ${body.error_description}`);
        return body.access_token;
      } finally {
        pending = null;
      }
    },
    // Idempotent: a test may stop the issuer before the suite's end does.
    close: () => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve())),
  };
}
