import { type OpenAPIHono, z } from "@hono/zod-openapi";
import { base64url } from "jose";
import { BatonError } from "../../errors.js";
import { type DirectoryAnswer, directoryStub } from "../../ledger/approver-protocol.js";
import { sha256 } from "../../tokens/digest.js";
import { requireCaller } from "../auth.js";
import type { AppEnv } from "../context.js";
import { STANDARD_ERRORS, authedRoute, documentedRoute } from "../openapi.js";
import { json } from "../respond.js";

/** An enrolment link is valid this long unless the operator asks for another lifetime (at most an hour). */
export const ENROLMENT_TTL_SECONDS = 15 * 60;
const ENROLMENT_TTL_MAX_SECONDS = 60 * 60;
/** Random bytes of an enrolment token: 256 bits, never guessed. */
const ENROLMENT_TOKEN_BYTES = 32;

const ApproverParam = z.object({
  approver: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/)
    .openapi({ param: { name: "approver", in: "path" }, description: "an approver id of the configuration" }),
});
const CredentialParam = ApproverParam.extend({
  credential: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,1366}$/)
    .openapi({ param: { name: "credential", in: "path" }, description: "the credential id, base64url" }),
});
/** Exactly the token an enrolment link carries: 32 random bytes, base64url. */
export const EnrolmentToken = z.string().regex(/^[A-Za-z0-9_-]{43}$/, "an enrolment token (43 base64url characters)");

const issueRoute = authedRoute({
  method: "post",
  path: "/v1/approvers/{approver}/enrolments",
  summary: "Issue a one-time, expiring enrolment link with which the approver registers a passkey (operator)",
  middleware: [requireCaller("operator")] as const,
  request: {
    params: ApproverParam,
    body: {
      required: false,
      content: { "application/json": { schema: z.object({ ttl_seconds: z.int().min(60).max(ENROLMENT_TTL_MAX_SECONDS).optional() }).strict() } },
    },
  },
  responses: {
    201: {
      description:
        "`{ enrolment_url, token, expires_at }`: hand the link to the approver (only once: the token is not stored, only its SHA-256). expires_at in seconds since the epoch",
    },
  },
});

const listRoute = authedRoute({
  method: "get",
  path: "/v1/approvers/credentials",
  summary: "Every registered passkey with its public key, and the signed log of registrations and revocations (auditor, operator)",
  middleware: [requireCaller("auditor", "operator")] as const,
  responses: { 200: { description: "`{ passkeys: { rp_id, origins }, credentials, log }`; `log` is a list of compact JWS (typ baton-credential-log+jwt)" } },
});

const revokeRoute = authedRoute({
  method: "post",
  path: "/v1/approvers/{approver}/credentials/{credential}/revoke",
  summary: "Revoke an approver's passkey: no approval is accepted from it afterwards; a signed log entry (operator)",
  middleware: [requireCaller("operator")] as const,
  request: {
    params: CredentialParam,
    body: { required: true, content: { "application/json": { schema: z.object({ reason: z.string().min(1).max(500) }).strict() } } },
  },
  responses: { 200: { description: "`{ credential, log_entry }`" } },
});

/** A directory answer as HTTP: the value, or its refusal in the one envelope. */
export function directoryValue<T>(result: DirectoryAnswer<T>): T {
  if (!result.ok) throw new BatonError(result.code, result.message);
  return result.value;
}

export function registerApprovers(app: OpenAPIHono<AppEnv>): void {
  app.openapi(issueRoute, async (c) => {
    const { approver } = c.req.valid("param");
    // An empty body is allowed (the default lifetime); a body that is there is parsed by the schema.
    const body = (c.req.header("content-length") ?? "0") === "0" ? {} : c.req.valid("json");
    const token = base64url.encode(crypto.getRandomValues(new Uint8Array(ENROLMENT_TOKEN_BYTES)));
    const issued = directoryValue(
      await directoryStub(c.env.APPROVERS).issueEnrolment({
        approver,
        operator: c.get("caller").id,
        tokenSha256: await sha256(token),
        ttlSeconds: body.ttl_seconds ?? ENROLMENT_TTL_SECONDS,
      }),
    );
    // In the fragment: a browser never sends it to a server, nor in a Referer.
    const enrolmentUrl = `${c.get("config").passkeys.origins[0]}/console/enrol#token=${token}`;
    return json({ approver, enrolment_url: enrolmentUrl, token, expires_at: issued.expires_at }, 201);
  });

  app.openapi(listRoute, async (c) => {
    const { rp_id, origins } = c.get("config").passkeys;
    return json({ passkeys: { rp_id, origins }, ...(await directoryStub(c.env.APPROVERS).list()) });
  });

  app.openapi(revokeRoute, async (c) => {
    const { approver, credential } = c.req.valid("param");
    const { reason } = c.req.valid("json");
    const revoked = await directoryStub(c.env.APPROVERS).revoke({ approver, credentialId: credential, reason, operator: c.get("caller").id });
    return json(directoryValue(revoked));
  });
}

/** The token-bearing routes answer the standard errors (401 for an unknown or expired token, 409 for a used one) and 415. */
const TOKEN_ROUTE_ERRORS = { ...STANDARD_ERRORS, 415: { description: "UNSUPPORTED_MEDIA_TYPE" } };

const optionsRoute = documentedRoute({
  method: "post",
  path: "/v1/enrolments/options",
  summary: "WebAuthn creation options for the enrolment a token names (no API key: the one-time token is the credential)",
  request: { body: { required: true, content: { "application/json": { schema: z.object({ token: EnrolmentToken }).strict() } } } },
  responses: {
    200: { description: "`{ approver, options }`: pass `options` to navigator.credentials.create() (as PublicKeyCredentialCreationOptionsJSON)" },
    ...TOKEN_ROUTE_ERRORS,
  },
});

const completeRoute = documentedRoute({
  method: "post",
  path: "/v1/enrolments/complete",
  summary: "Register the passkey created with the enrolment's options; consumes the token",
  request: {
    body: {
      required: true,
      content: {
        "application/json": {
          schema: z.object({ token: EnrolmentToken, response: z.record(z.string(), z.unknown()).openapi({ description: "PublicKeyCredential.toJSON() of the registration" }) }).strict(),
        },
      },
    },
  },
  responses: { 201: { description: "`{ credential, log_entry }`" }, ...TOKEN_ROUTE_ERRORS },
});

export function registerEnrolments(app: OpenAPIHono<AppEnv>): void {
  app.openapi(optionsRoute, async (c) => {
    const { token } = c.req.valid("json");
    return json(directoryValue(await directoryStub(c.env.APPROVERS).enrolmentOptions({ tokenSha256: await sha256(token) })));
  });

  app.openapi(completeRoute, async (c) => {
    const { token, response } = c.req.valid("json");
    const completed = await directoryStub(c.env.APPROVERS).completeEnrolment({ tokenSha256: await sha256(token), response });
    return json(directoryValue(completed), 201);
  });
}
