import type { ReasonCode } from "../errors.js";
import type { Decision, Effect, LedgerRequest } from "../policy/types.js";
import { sha256 } from "./digest.js";
import type { Keyring } from "./keys.js";
import { TYP } from "./kinds.js";

/**
 * One decision, signed and chained: `prev` is the SHA-256 of receipt n-1 (its
 * compact JWS), so removing, reordering or inserting a receipt breaks the chain.
 * `inputs` is exactly what `decide()` saw besides the ledger and the workflow
 * (identified by `workflow`), so the decision can be replayed offline.
 */
export interface ReceiptClaims {
  iss: string;
  seq: string;
  n: number;
  prev: string | null;
  /** Milliseconds since the epoch: the `now` given to `decide()`. */
  at: number;
  kind: LedgerRequest["kind"];
  stage: string;
  decision: Decision;
  code: ReasonCode | null;
  message: string;
  details?: unknown;
  workflow: string;
  inputs: LedgerRequest;
  effects: Effect[];
  /** The jti this decision concerned (presented token or attestation), if any. */
  nonce: string | null;
  /** The capability this decision minted, if any. */
  minted: { jti: string; stage: string; exp: number } | null;
}

export function signReceipt(keyring: Keyring, claims: ReceiptClaims): Promise<string> {
  return keyring.sign({ ...claims }, TYP.receipt);
}

/**
 * The signed head of a chain: which receipt is the last one now. An export that
 * ends earlier than a head the auditor holds has lost its tail.
 */
export interface HeadClaims {
  iss: string;
  seq: string;
  n: number;
  /** SHA-256 of the last receipt's compact JWS. */
  hash: string;
  /** Milliseconds since the epoch when the head was read. */
  at: number;
  sealed: boolean;
}

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
