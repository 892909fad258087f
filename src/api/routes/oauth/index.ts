import type { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../../context.js";
import { registerMetadata } from "./metadata.js";
import { registerTokenEndpoint } from "./token.js";

export { oauthErrorResponse } from "./errors.js";

/** Registers Baton's OAuth edge: RFC 8414 metadata, the RFC 8693 token endpoint, and the client scheme it documents. */
export function registerOAuth(app: OpenAPIHono<AppEnv>): void {
  registerMetadata(app);
  registerTokenEndpoint(app);
  app.openAPIRegistry.registerComponent("securitySchemes", "client_secret_basic", {
    type: "http",
    scheme: "basic",
    description: "OAuth client authentication (RFC 6749 §2.3.1): a configured client's id as the user name, its API key as the password",
  });
}

/** Paths whose every answer, refusals included, is OAuth's (RFC 6749 §5.2), not Baton's envelope. */
export function isOAuthPath(path: string): boolean {
  return path === "/oauth" || path.startsWith("/oauth/");
}
