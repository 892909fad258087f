import type { ReasonCode } from "../errors.js";

/** Facts fixed when a sequence starts; never change afterwards. */
export interface SequenceRecord {
  seq: string;
  workflowId: string;
  /** Hash of the workflow version the sequence runs under, for its whole life. */
  workflow: string;
  params: Record<string, unknown>;
  subject: string;
  actor: string;
  orchestrator: string;
  createdAt: number;
}

/** Evidence accepted towards the gate that is currently pending. */
export interface AcceptedEvidence {
  requirement: number;
  iss: string;
  type: string;
  jti: string;
  /** SHA-256 of the compact JWS as presented. */
  digest: string;
}

export interface CurrentCapability {
  jti: string;
  /** Seconds since the epoch, like the JWT `exp`. */
  exp: number;
  /** How many times this stage's capability was re-issued after expiring. */
  reissues: number;
}

/**
 * The ledger as `decide()` sees it: a snapshot read inside the decision's
 * transaction. `nonceUsed` is a lookup, not a list, so the Durable Object answers
 * it from an index and the auditor's replay from a Set.
 */
export interface LedgerState {
  record: SequenceRecord;
  status: "active" | "sealed";
  sealReason: "completed" | "revoked" | null;
  stage: number;
  /** uses[g]: uses consumed of grant g of the current stage. */
  uses: number[];
  evidence: AcceptedEvidence[];
  capability: CurrentCapability | null;
  nonceUsed(kind: NonceKind, jti: string): boolean;
}

export type NonceKind = "capability" | "attestation";

/** The claims of a capability whose signature, `typ` and `iss` the shell already verified. */
export interface CapabilityClaims {
  iss: string;
  sub: string;
  act: { sub: string };
  aud: string[];
  iat: number;
  nbf: number;
  exp: number;
  jti: string;
  seq: string;
  stage: string;
  workflow: string;
  receipt: string;
  authorization_details: AuthorizationDetail[];
  evidence: { digest: string; items: { iss: string; type: string; jti: string }[] } | null;
}

/** RFC 9396 authorization detail of one grant. */
export interface AuthorizationDetail {
  type: "baton_tool";
  tool: string;
  actions: string[];
  where?: string;
  uses: number;
}

export interface AttestationClaims {
  iss: string;
  seq: string;
  stage: string;
  type: string;
  iat: number;
  exp?: number;
  jti: string;
  facts: Record<string, unknown>;
}

/** The outcome of signature verification, done by the shell before `decide()`. */
export type AttestationCheck =
  | { ok: true; kid: string; digest: string; claims: AttestationClaims }
  | { ok: false; digest: string; message: string };

/** Every request `decide()` knows; exactly what a receipt records as its inputs. */
export type LedgerRequest =
  | { kind: "start"; params: Record<string, unknown>; subject: string; actor: string; orchestrator: string; fresh: Fresh }
  | { kind: "redeem"; tool: string; action: string; args: Record<string, unknown>; token: CapabilityClaims; tokenDigest: string }
  | { kind: "evidence"; attestation: AttestationCheck; fresh: Fresh }
  | { kind: "reissue"; agent: string; fresh: Fresh }
  | { kind: "revoke"; orchestrator: string; reason: string };

/** Randomness is drawn by the shell and passed in, so `decide()` stays a function. */
export interface Fresh {
  jti: string;
}

export type Decision = "ALLOW" | "DENY" | "ESCALATE";

export type Effect =
  | { type: "use"; grant: number }
  | { type: "spend"; kind: NonceKind; jti: string }
  | { type: "accept_evidence"; evidence: AcceptedEvidence }
  | { type: "advance"; stage: number }
  | { type: "capability"; jti: string; exp: number; reissue: boolean }
  | { type: "seal"; reason: "completed" | "revoked" };

/** A capability `decide()` wants minted; the shell adds keys, hashes and signs. */
export interface MintPlan {
  stage: number;
  stageId: string;
  jti: string;
  iat: number;
  nbf: number;
  exp: number;
  aud: string[];
  authorization_details: AuthorizationDetail[];
  evidence: AcceptedEvidence[];
}

export interface Outcome {
  decision: Decision;
  code: ReasonCode | null;
  message: string;
  details?: unknown;
  effects: Effect[];
  mint: MintPlan | null;
}
