import { z } from "@hono/zod-openapi";
import { boundedJsonObject } from "../json-shape.js";
import { DelegatedGrantSchema } from "../ledger/delegated-grant.js";
import { IDEMPOTENCY_KEY_MAX_CHARS, STAGE_MAX_GRANTS, TOKEN_MAX_BYTES } from "../limits.js";
import { OFFLINE_REFUSAL_CODES } from "../policy/offline-refusals.js";
import { PasskeyApprovalSchema } from "../tokens/passkey.js";

/** The wire schemas of the HTTP API, declared once: they validate and they document. */

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: "SEQUENCE_VIOLATION" }),
      message: z.string(),
      details: z.unknown().optional(),
      receipt: z.string().nullable().openapi({ description: "the signed receipt of the denial, when a sequence decided it" }),
    }),
  })
  .openapi("Error");

/**
 * The shape of a compact JWS, and no more: an empty signature part (an unsigned
 * token, `alg: none`) has that shape and fails verification, so it gets the code of
 * a token or evidence that does not verify (and, for evidence, a receipt), not a 400.
 */
const CompactJws = z
  .string()
  .min(1)
  .max(TOKEN_MAX_BYTES)
  .regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/, "a compact JWS");

const Name = z.string().min(1).max(256);

/**
 * A party (subject, actor): one line of printable text. The analysis plane keys its
 * scopes on it (`actor:<name>`) and refuses a line break there, so one let in here made
 * every delivery of the sequence's receipts fail and retry, and a signal lookup a 500.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point.
export const PartyName = Name.regex(/^[^\x00-\x1f\x7f-\x9f\u2028\u2029]+$/, "printable characters on one line");

export const SequenceIdParam = z.object({
  id: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .openapi({ param: { name: "id", in: "path" }, description: "sequence id, minted by Baton" }),
});

export const DpopHeader = z.object({
  dpop: CompactJws.optional().openapi({ description: "RFC 9449 proof of the delegating agent's key, when its capability is bound (cnf.jkt)" }),
});

export const IdempotencyHeader = z.object({
  "idempotency-key": z
    .string()
    .min(1)
    .max(IDEMPOTENCY_KEY_MAX_CHARS)
    .regex(/^[\x21-\x7e]+$/, "printable ASCII")
    .optional()
    .openapi({ description: "a retried request with the same key and body gets the same answer" }),
});

export const StartSequenceBody = z
  .object({
    workflow: Name.openapi({ example: "deployment" }),
    params: boundedJsonObject().openapi({ example: { service: "checkout", version: "2.4.1" } }),
    subject: PartyName.openapi({ description: "the user on whose behalf", example: "user:alice" }),
    actor: PartyName.openapi({ description: "the agent that will act", example: "agent-7" }),
    actor_jwk: boundedJsonObject()
      .optional()
      .openapi({ description: "the actor's public key (JWK); required by sender-constrained workflows, which bind capabilities to it" }),
  })
  .strict()
  .openapi("StartSequence");

export const EvidenceBody = z.object({ attestation: CompactJws }).strict().openapi("Evidence");
/**
 * Exactly one form: the JWS an approver's key signed, or the passkey form (the claims in the
 * clear and a WebAuthn assertion over their digest, src/tokens/passkey.ts).
 */
export const ApprovalBody = z
  .union([
    z.object({ approval: CompactJws.openapi({ description: "an approval JWS (typ baton-approval+jwt) signed with a configured approver key" }) }).strict(),
    z
      .object({
        passkey: PasskeyApprovalSchema.describe(
          "the approval claims and a WebAuthn assertion (authenticator_data, client_data_json, signature, credential_id; base64url) whose challenge is base64url(SHA-256(RFC 8785 JSON of claims)), made with the approver's enrolled passkey",
        ),
      })
      .strict(),
  ])
  .openapi("Approval");

export const RedeemBody = z
  .object({
    token: CompactJws.openapi({ description: "the capability" }),
    action: z.string().min(1).max(128).openapi({ example: "deploy.canary" }),
    args: boundedJsonObject().default({}).openapi({ example: { service: "checkout", version: "2.4.1", percent: 5 } }),
    dpop: z
      .object({
        proof: CompactJws.openapi({ description: "the DPoP header the agent sent the tool" }),
        htm: z.string().min(1).max(16).openapi({ example: "POST", description: "the method of the agent's request to the tool" }),
        htu: z.url().max(2048).openapi({ description: "the URL of the agent's request to the tool" }),
      })
      .strict()
      .optional()
      .openapi({ description: "required for sender-constrained capabilities (cnf.jkt), RFC 9449" }),
    refused: z
      .object({
        code: z.enum(OFFLINE_REFUSAL_CODES).openapi({ example: "SEQUENCE_VIOLATION" }),
        message: z.string().min(1).max(500),
      })
      .strict()
      .optional()
      .openapi({
        description:
          "a report, not a redemption: the tool's own offline check refused this capability (its signature verified) with this code. " +
          "The gate answers a DENY with the same code and its receipt; a report never spends a use and is never an ALLOW",
      }),
  })
  .strict()
  .openapi("Redeem");

export const DelegateBody = z
  .object({
    token: CompactJws.openapi({ description: "the delegating agent's current capability (it must grant `delegate`)" }),
    actor: PartyName.openapi({ description: "the sub-agent", example: "agent-7.researcher" }),
    grants: z
      .array(DelegatedGrantSchema)
      .min(1)
      .max(STAGE_MAX_GRANTS)
      .openapi({ description: "a subset of the current stage's grants; the uses are reserved from the parent" }),
    ttl_seconds: z.int().min(1).max(3600).optional().openapi({ description: "never beyond the delegating capability's exp" }),
    actor_jwk: boundedJsonObject().optional().openapi({ description: "the sub-agent's public key, required when the parent is sender-constrained" }),
  })
  .strict()
  .openapi("Delegate");

export const OutcomeBody = z
  .object({
    receipt: CompactJws.openapi({ description: "Baton's ALLOW receipt of the redeem (what the gate answered)" }),
    outcome: z.enum(["succeeded", "failed", "unknown"]),
    detail: z.string().max(500).optional(),
  })
  .strict()
  .openapi("Outcome");

export const RevokeBody = z
  .object({ reason: z.string().max(500).default("revoked by orchestrator") })
  .strict()
  .openapi("Revoke");

export const ReceiptsQuery = z.object({
  after: z.coerce.number().int().min(-1).default(-1).openapi({ description: "export receipts with n greater than this" }),
});

export const DecisionSchema = z
  .object({
    decision: z.enum(["ALLOW", "DENY", "ESCALATE"]),
    code: z.string().nullable(),
    message: z.string(),
    sequence: z.string(),
    sealed: z.boolean(),
    stage: z.string().optional(),
    capability: z.string().optional().openapi({ description: "the capability for the (new) current stage" }),
    expires_at: z.number().optional(),
    details: z.unknown().optional(),
    receipt: z.string().nullable(),
  })
  .openapi("Decision");

export const SequenceSchema = z.record(z.string(), z.unknown()).openapi("Sequence");
export const WorkflowSummarySchema = z
  .object({ id: z.string(), hash: z.string(), description: z.string().optional(), stages: z.array(z.string()) })
  .openapi("WorkflowSummary");
export const JwksSchema = z.object({ keys: z.array(z.record(z.string(), z.unknown())) }).openapi("JWKS");
