import { type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { BatonError } from "../../../errors.js";
import { DPOP_ALGORITHMS } from "../../../tokens/kinds.js";
import type { AppEnv } from "../../context.js";
import { documentedRoute } from "../../openapi.js";
import { json } from "../../respond.js";
import { OAuthError } from "./errors.js";
import {
  AUTHORIZATION_ENDPOINT_PATH,
  CLIENT_AUTH_METHODS,
  METADATA_PATH,
  TOKEN_ENDPOINT_PATH,
  TOKEN_EXCHANGE_GRANT,
  TOKEN_TYPES,
} from "./vocabulary.js";

/** RFC 8414 §2, as Baton fills it in (README, "OAuth: metadata and token exchange"). */
const MetadataSchema = z
  .object({
    issuer: z.string(),
    authorization_endpoint: z.string(),
    token_endpoint: z.string(),
    jwks_uri: z.string(),
    response_types_supported: z.array(z.string()).openapi({ description: "empty: Baton serves no authorization-endpoint flow" }),
    grant_types_supported: z.array(z.string()),
    token_endpoint_auth_methods_supported: z.array(z.string()),
    dpop_signing_alg_values_supported: z.array(z.string()),
    service_documentation: z.string(),
    baton_subject_token_types_supported: z.array(z.string()).openapi({ description: "subject_token_type values the token exchange takes" }),
    baton_requested_token_types_supported: z.array(z.string()),
    baton_configuration_uri: z.string(),
  })
  .openapi("AuthorizationServerMetadata");

const metadataRoute = documentedRoute({
  method: "get",
  path: METADATA_PATH,
  summary: "OAuth authorization server metadata (RFC 8414): the token endpoint and the token exchange Baton serves",
  description: "Example: `curl -s $BATON/.well-known/oauth-authorization-server`",
  responses: { 200: { description: "metadata", content: { "application/json": { schema: MetadataSchema } } } },
});

/**
 * The metadata, and the authorization endpoint it has to name. RFC 8414 §2 requires
 * `response_types_supported` and, for flows that use it, `authorization_endpoint`; Baton has
 * no such flow (agents get capabilities from their sequence), but the MCP SDK's metadata
 * schema requires both, so an MCP client could not even read Baton's metadata without them.
 * Baton lists an authorization endpoint that refuses every request and no response type: a
 * client that tries the code flow fails before it redirects anyone ("does not support
 * response type code"), and one that reads the metadata for the token endpoint is served.
 */
export function registerMetadata(app: OpenAPIHono<AppEnv>): void {
  // RFC 8414 §3.1: an issuer with a path has its metadata under the path-inserted well-known URI
  // (and only there: the metadata names the issuer whose URI it was fetched from).
  app.openapi(metadataRoute, (c) => metadata(c, ""));
  app.get(`${METADATA_PATH}/*`, (c) => metadata(c, c.req.path.slice(METADATA_PATH.length)));

  app.openAPIRegistry.registerPath({
    method: "get",
    path: AUTHORIZATION_ENDPOINT_PATH,
    summary: "Listed in the metadata because RFC 8414 clients require it; serves no response type, so it refuses every request, without redirecting",
    description: "Example: `curl -s $BATON/oauth/authorize` → 400 `unsupported_response_type`",
    responses: { 400: { description: "unsupported_response_type" } },
  });
  app.on(["GET", "POST"], AUTHORIZATION_ENDPOINT_PATH, () => {
    // RFC 6749 §4.1.2.1: no client has a redirect URI registered here, so the error is not redirected.
    throw new OAuthError(
      "unsupported_response_type",
      "INVALID_REQUEST",
      `Baton serves no authorization-endpoint flow: agents get capabilities from their sequence and exchange them at ${TOKEN_ENDPOINT_PATH}`,
    );
  });
}

function metadata(c: Context<AppEnv>, issuerPathAsked: string): Response {
  const issuer = c.get("config").issuer;
  if (issuerPathAsked !== issuerPath(issuer)) throw new BatonError("NOT_FOUND", "no such endpoint");
  // Endpoints where this request reached Baton, as /.well-known/baton-configuration names them.
  const base = new URL(c.req.url).origin;
  return json(
    {
      issuer,
      authorization_endpoint: `${base}${AUTHORIZATION_ENDPOINT_PATH}`,
      token_endpoint: `${base}${TOKEN_ENDPOINT_PATH}`,
      jwks_uri: `${base}/.well-known/jwks.json`,
      response_types_supported: [],
      grant_types_supported: [TOKEN_EXCHANGE_GRANT],
      token_endpoint_auth_methods_supported: [...CLIENT_AUTH_METHODS],
      dpop_signing_alg_values_supported: [...DPOP_ALGORITHMS],
      service_documentation: `${base}/docs`,
      baton_subject_token_types_supported: [...TOKEN_TYPES],
      baton_requested_token_types_supported: [...TOKEN_TYPES],
      baton_configuration_uri: `${base}/.well-known/baton-configuration`,
    } satisfies z.infer<typeof MetadataSchema>,
    200,
    // Metadata changes with a deployment, not per request; a short public cache like the JWKS.
    { "cache-control": "public, max-age=300" },
  );
}

/** The issuer's path without a trailing slash ("" for none, or for an issuer that is not a URL). */
function issuerPath(issuer: string): string {
  if (!URL.canParse(issuer)) return "";
  return new URL(issuer).pathname.replace(/\/$/, "");
}
