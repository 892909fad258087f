import { z } from "zod";
import { BatonError } from "../errors.js";
import { IDEMPOTENCY_KEY_MAX_CHARS, STAGE_MAX_GRANTS } from "../limits.js";
import { OFFLINE_REFUSAL_CODES } from "../policy/offline-refusals.js";
import type { Act, AncestorStanding } from "../policy/types.js";
import { ApprovalClaimsSchema } from "../tokens/approval.js";
import { PasskeyApprovalSchema } from "../tokens/passkey.js";
import { AttestationClaimsSchema } from "../tokens/attestation.js";
import { CapabilityClaimsSchema } from "../tokens/capability.js";
import { VerifiedWorkloadTokenSchema } from "../tokens/workload-token.js";
import { type LedgerAnswer, refused } from "./answers.js";
import { DelegatedGrantSchema } from "./delegated-grant.js";

/**
 * The SequenceLedger's RPC arguments. The Worker is the only caller, but the
 * object validates them anyway: a Durable Object is a boundary of its own.
 */
export const CallerSchema = z.object({ id: z.string().min(1), role: z.string().min(1) });
export type Caller = z.infer<typeof CallerSchema>;

// The API refuses a longer key at its boundary (IdempotencyHeader); the ledger holds the same bound.
const Idempotency = z.object({ key: z.string().min(1).max(IDEMPOTENCY_KEY_MAX_CHARS), requestDigest: z.string().min(1) }).optional();

/** RFC 8693 `act`: the actor, and the actor it acts for, nested (members beyond these are kept). */
const ActSchema: z.ZodType<Act> = z.lazy(() => z.looseObject({ sub: z.string().min(1), act: ActSchema.optional() }));

export const StartInputSchema = z.object({
  caller: CallerSchema,
  workflow: z.object({ id: z.string(), hash: z.string(), definition: z.string() }),
  params: z.record(z.string(), z.unknown()),
  subject: z.string().min(1),
  actor: z.string().min(1),
  actorJkt: z.string().min(1).optional(),
  /** Only when a parent sequence delegated to this one's actor. */
  delegation: z
    .object({ parent: z.string().min(1), parentReceipt: z.string().min(1), act: ActSchema, until: z.int().nonnegative().optional() })
    .optional(),
  /** The orchestrator the sequence answers to, when it is not the caller (a delegated child answers to its parent's). */
  orchestrator: z.string().min(1).optional(),
  idempotency: Idempotency,
});

const Dpop = z
  .object({
    proof: z.discriminatedUnion("ok", [
      z.object({
        ok: z.literal(true),
        jkt: z.string(),
        claims: z.object({ htm: z.string(), htu: z.string(), iat: z.int(), jti: z.string(), ath: z.string(), exp: z.int().optional() }),
      }),
      z.object({ ok: z.literal(false), message: z.string() }),
    ]),
    htm: z.string(),
    htu: z.string(),
  })
  .optional();

export const RedeemInputSchema = z.object({
  caller: CallerSchema,
  tool: z.string().min(1),
  action: z.string().min(1),
  args: z.record(z.string(), z.unknown()),
  token: CapabilityClaimsSchema,
  tokenDigest: z.string().min(1),
  dpop: Dpop,
  refused: z.object({ code: z.enum(OFFLINE_REFUSAL_CODES), message: z.string().max(500) }).optional(),
});

export const DelegateInputSchema = z.object({
  caller: CallerSchema,
  token: CapabilityClaimsSchema,
  tokenDigest: z.string().min(1),
  dpop: Dpop,
  actor: z.string().min(1).max(256),
  grants: z.array(DelegatedGrantSchema).min(1).max(STAGE_MAX_GRANTS),
});

export const EvidenceInputSchema = z.object({
  caller: CallerSchema,
  attestation: z.union([
    // A workload token first: it is told apart by its method, a Baton attestation by having none.
    VerifiedWorkloadTokenSchema,
    z.object({ ok: z.literal(true), kid: z.string(), digest: z.string(), claims: AttestationClaimsSchema }),
    z.object({ ok: z.literal(false), digest: z.string(), message: z.string() }),
  ]),
  idempotency: Idempotency,
});

const ApproverIdentitySchema = z.object({ id: z.string(), groups: z.array(z.string()), subject: z.string().optional() });
export const ApprovalInputSchema = z.object({
  caller: CallerSchema,
  approval: z.union([
    z.strictObject({ ok: z.literal(true), kid: z.string(), digest: z.string(), approver: ApproverIdentitySchema, claims: ApprovalClaimsSchema }),
    z.strictObject({
      ok: z.literal(true),
      method: z.literal("passkey"),
      credential_id: z.string().min(1),
      digest: z.string(),
      approver: ApproverIdentitySchema,
      claims: ApprovalClaimsSchema,
      passkey: PasskeyApprovalSchema,
      counter_regressed: z.literal(true).optional(),
    }),
    z.strictObject({ ok: z.literal(false), digest: z.string(), message: z.string() }),
  ]),
  idempotency: Idempotency,
});

export const OutcomeInputSchema = z.object({
  caller: CallerSchema,
  tool: z.string().min(1),
  redeemed: z.object({ n: z.int().nonnegative(), hash: z.string().min(1), stage: z.string(), action: z.string() }),
  outcome: z.enum(["succeeded", "failed", "unknown"]),
  detail: z.string().max(500).optional(),
});

export const CapabilityInputSchema = z.object({
  caller: CallerSchema,
  idempotency: Idempotency,
  /** A token exchange's subject token (RFC 8693), its signature verified: it must stand for the current stage. */
  presented: z.object({ token: CapabilityClaimsSchema }).optional(),
});
export const RevokeInputSchema = z.object({ caller: CallerSchema, reason: z.string().max(500) });
export const DescribeInputSchema = z.object({ caller: CallerSchema });
export const ReceiptsInputSchema = z.object({
  caller: CallerSchema,
  after: z.int().min(-1),
  limit: z.int().min(1).max(1000),
});

export type StartInput = z.input<typeof StartInputSchema>;
export type RedeemInput = z.input<typeof RedeemInputSchema>;
export type EvidenceInput = z.input<typeof EvidenceInputSchema>;
export type DelegateInput = z.input<typeof DelegateInputSchema>;
export type OutcomeInput = z.input<typeof OutcomeInputSchema>;
export type ApprovalInput = z.input<typeof ApprovalInputSchema>;
export type CapabilityInput = z.input<typeof CapabilityInputSchema>;
export type RevokeInput = z.input<typeof RevokeInputSchema>;
export type DescribeInput = z.input<typeof DescribeInputSchema>;
export type ReceiptsInput = z.input<typeof ReceiptsInputSchema>;

/** The SequenceLedger's public methods: the protocol, and nothing else. */
export interface LedgerProtocol {
  start(input: StartInput): Promise<LedgerAnswer>;
  redeem(input: RedeemInput): Promise<LedgerAnswer>;
  delegate(input: DelegateInput): Promise<LedgerAnswer>;
  outcome(input: OutcomeInput): Promise<LedgerAnswer>;
  approval(input: ApprovalInput): Promise<LedgerAnswer>;
  evidence(input: EvidenceInput): Promise<LedgerAnswer>;
  capability(input: CapabilityInput): Promise<LedgerAnswer>;
  revoke(input: RevokeInput): Promise<LedgerAnswer>;
  describe(input: DescribeInput): Promise<LedgerAnswer>;
  receipts(input: ReceiptsInput): Promise<LedgerAnswer>;
  /** Asked by a delegated child's ledger before its decisions (lineage.ts), never by the API. */
  standing(): Promise<AncestorStanding[]>;
}

/** Parses an RPC argument; a malformed one is answered INVALID_REQUEST with the zod issues, in the one envelope. */
export function parseInput<T extends z.ZodType>(schema: T, raw: unknown): { ok: true; value: z.output<T> } | { ok: false; answer: LedgerAnswer } {
  const result = schema.safeParse(raw);
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, answer: refused(new BatonError("INVALID_REQUEST", "ledger call is malformed", { details: result.error.issues })) };
}
