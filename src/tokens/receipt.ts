import { base64url } from "jose";
import { z } from "zod";
import { REASON_CODES } from "../errors.js";
import { sha256 } from "./digest.js";
import type { Keyring } from "./keys.js";
import { TYP } from "./kinds.js";

/** The kinds of request a receipt records (policy's `LedgerRequest["kind"]`). */
export const RECEIPT_KINDS = ["start", "redeem", "evidence", "approval", "outcome", "delegate", "reissue", "revoke"] as const;
export const DECISIONS = ["ALLOW", "DENY", "ESCALATE"] as const;
export type Decision = (typeof DECISIONS)[number];
/** The effects a receipt can record (policy's `Effect["type"]`). */
export const EFFECT_TYPES = ["use", "spend", "accept_evidence", "accept_approval", "accept_outcome", "reject_gate", "advance", "capability", "seal"] as const;

const RedeemInputs = z.looseObject({ kind: z.literal("redeem"), tool: z.string(), action: z.string() });
const OtherInputs = z.looseObject({ kind: z.enum(RECEIPT_KINDS.filter((k) => k !== "redeem") as [Exclude<(typeof RECEIPT_KINDS)[number], "redeem">]) });

const ReasonCodeSchema = z.enum(REASON_CODES as [(typeof REASON_CODES)[number], ...(typeof REASON_CODES)[number][]]);

/**
 * The same decision under the shadow candidate of the receipt's workflow (README: Shadow
 * mode): computed by the same `decide()` from the same inputs, state and time, recorded
 * and never enforced. `flip` says how it differs from the receipt's own decision: not
 * (null), in the decision, only in the code, or `error` when the candidate could not
 * decide (it does not compile, or it threw): `candidate` is then null or its hash.
 * A flip names the condition that decided each side, when one did.
 */
export const ShadowClaimsSchema = z.union([
  z.strictObject({ candidate: z.string(), decision: z.enum(DECISIONS), code: ReasonCodeSchema.nullable(), flip: z.null() }),
  z.strictObject({
    candidate: z.string(),
    decision: z.enum(DECISIONS),
    code: ReasonCodeSchema.nullable(),
    flip: z.enum(["decision", "code"]),
    message: z.string(),
    condition: z.string().nullable(),
    enforced_condition: z.string().nullable(),
  }),
  z.strictObject({ candidate: z.string().nullable(), flip: z.literal("error"), error: z.string() }),
]);
export type ShadowClaims = z.infer<typeof ShadowClaimsSchema>;

/**
 * One decision, signed and chained: `prev` is the SHA-256 of receipt n-1 (its
 * compact JWS), so removing, reordering or inserting a receipt breaks the chain.
 * `inputs` is exactly what `decide()` saw besides the ledger and the workflow
 * (identified by `workflow`), so the decision can be replayed offline.
 *
 * The schema checks the envelope every reader relies on. `inputs` and `effects`
 * are policy's `LedgerRequest` and `Effect` (this layer knows only their tags and
 * what a redeem names, which the outcome route and the analysis plane read); the
 * replay hands them to `decide()` as recorded. Unknown members are kept: a
 * receipt is signed as it is, and a later version may add to it.
 */
export const ReceiptClaimsSchema = z.looseObject({
  iss: z.string(),
  seq: z.string(),
  n: z.int().nonnegative(),
  prev: z.string().nullable(),
  /** Milliseconds since the epoch: the `now` given to `decide()`. */
  at: z.number(),
  kind: z.enum(RECEIPT_KINDS),
  stage: z.string(),
  decision: z.enum(DECISIONS),
  code: ReasonCodeSchema.nullable(),
  message: z.string(),
  details: z.unknown().optional(),
  workflow: z.string(),
  inputs: z.discriminatedUnion("kind", [RedeemInputs, OtherInputs]),
  effects: z.array(z.looseObject({ type: z.enum(EFFECT_TYPES) })),
  /** The jti this decision concerned (presented token or attestation), if any. */
  nonce: z.string().nullable(),
  /** The capability this decision minted, if any. */
  minted: z.object({ jti: z.string(), stage: z.string(), exp: z.number() }).nullable(),
  /** The shadow candidate's decision, beside this one; never an input of a replay. */
  shadow: ShadowClaimsSchema.optional(),
  /** On the start receipt of the first sequence of a promoted version: the version it replaced. */
  promoted_from: z.string().optional(),
});
export type ReceiptClaims = z.infer<typeof ReceiptClaimsSchema>;

export function signReceipt(keyring: Keyring, claims: ReceiptClaims): Promise<string> {
  return keyring.sign({ ...claims }, TYP.receipt);
}

/**
 * The signed head of a chain: which receipt is the last one now. An export that
 * ends earlier than a head the auditor holds has lost its tail.
 */
export const HeadClaimsSchema = z.looseObject({
  iss: z.string(),
  seq: z.string(),
  n: z.int().nonnegative(),
  /** SHA-256 of the last receipt's compact JWS. */
  hash: z.string(),
  /** Milliseconds since the epoch when the head was read. */
  at: z.number(),
  sealed: z.boolean(),
});
export type HeadClaims = z.infer<typeof HeadClaimsSchema>;

export function signHead(keyring: Keyring, claims: HeadClaims): Promise<string> {
  return keyring.sign({ ...claims }, TYP.head);
}

/** The value the next receipt's `prev` and a capability's `receipt` claim carry. */
export function receiptHash(receipt: string): Promise<string> {
  return sha256(receipt);
}

/** Whether a decision is activity the analysis plane reads: an allowed redeem (an action that ran). */
export function isActivity(kind: string, decision: string): boolean {
  return kind === "redeem" && decision === "ALLOW";
}

/**
 * A receipt's claims, read without verifying its signature: only for receipts this
 * service signed and stored itself (the ledger's outbox, the index, the analysts it
 * delivers to, the console's timeline). Anything received from outside is verified.
 */
export function unverifiedReceiptClaims(jws: string): ReceiptClaims {
  return JSON.parse(new TextDecoder().decode(base64url.decode(jws.split(".")[1] ?? ""))) as ReceiptClaims;
}
