import type { OpenAPIHono } from "@hono/zod-openapi";
import { REASON_CODES } from "../../errors.js";
import { DPOP_ALGORITHMS, EVIDENCE_ALGORITHMS, SIGNING_ALGORITHM, TYP } from "../../tokens/kinds.js";
import type { AppEnv } from "../context.js";
import { documentedRoute } from "../openapi.js";
import { json } from "../respond.js";
import { JwksSchema } from "../schemas.js";
import { CONFIGURATION_PATH, EVALUATIONS_PATH, EVALUATION_PATH } from "./authzen/index.js";
import { METADATA_PATH, TOKEN_ENDPOINT_PATH } from "./oauth/vocabulary.js";

const jwksRoute = documentedRoute({
  method: "get",
  path: "/.well-known/jwks.json",
  summary: "Public keys that verify capabilities and receipts (current and retiring)",
  responses: { 200: { description: "RFC 7517 JWK set", content: { "application/json": { schema: JwksSchema } } } },
});

const metadataRoute = documentedRoute({
  method: "get",
  path: "/.well-known/baton-configuration",
  summary: "Issuer metadata, in the spirit of RFC 8414",
  responses: { 200: { description: "metadata" } },
});

export function registerDiscovery(app: OpenAPIHono<AppEnv>): void {
  app.openapi(jwksRoute, (c) =>
    // Short cache: verifiers must see a new key soon after rotation (README, "Key rotation").
    json(c.get("keyring").jwks, 200, { "cache-control": "public, max-age=300" }),
  );
  app.openapi(metadataRoute, (c) => {
    const issuer = c.get("config").issuer;
    const base = new URL(c.req.url).origin;
    return json({
      issuer,
      jwks_uri: `${base}/.well-known/jwks.json`,
      sequences_endpoint: `${base}/v1/sequences`,
      redeem_endpoint: `${base}/v1/redeem`,
      workflows_endpoint: `${base}/v1/workflows`,
      openapi_uri: `${base}/openapi.json`,
      // OpenID AuthZEN 1.0: the gate as a policy decision point (routes/authzen).
      authzen_configuration_uri: `${base}${CONFIGURATION_PATH}`,
      access_evaluation_endpoint: `${base}${EVALUATION_PATH}`,
      access_evaluations_endpoint: `${base}${EVALUATIONS_PATH}`,
      token_endpoint: `${base}${TOKEN_ENDPOINT_PATH}`,
      oauth_metadata_uri: `${base}${METADATA_PATH}`,
      signing_alg_values_supported: [SIGNING_ALGORITHM],
      evidence_alg_values_supported: EVIDENCE_ALGORITHMS,
      dpop_signing_alg_values_supported: DPOP_ALGORITHMS,
      token_types: TYP,
      reason_codes: REASON_CODES.filter((code) => code !== "INTERNAL"),
    });
  });
}
