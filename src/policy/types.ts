import type { ReasonCode } from "../errors.js";
import type { ApprovalCheck } from "../tokens/approval.js";
import type { AttestationCheck } from "../tokens/attestation.js";
import type { Act, AuthorizationDetail, CapabilityClaims, OtherStageGrant } from "../tokens/capability.js";
import type { DpopPresentation } from "../tokens/dpop.js";
import type { Decision } from "../tokens/receipt.js";
import type { WorkloadTokenCheck } from "../tokens/workload-token.js";
import type { ReportedRefusal } from "./offline-refusals.js";

// The claims of each token kind are defined (zod schema, inferred type) with the kind in
// tokens/; they are re-exported here for the policy's readers.
export type { ApprovalCheck, ApprovalClaims } from "../tokens/approval.js";
export type { AttestationCheck, AttestationClaims } from "../tokens/attestation.js";
export type { Act, AuthorizationDetail, CapabilityClaims, OtherStageGrant } from "../tokens/capability.js";
export type { DpopPresentation } from "../tokens/dpop.js";
// One spelling of the three decisions: the receipt's, which every decision is written in.
export type { Decision } from "../tokens/receipt.js";
export type { VerifiedWorkloadToken, WorkloadClaims, WorkloadTokenCheck } from "../tokens/workload-token.js";

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
  /** RFC 7638 thumbprint of the actor's key, for sender-constrained workflows. */
  actorJkt?: string;
  /** Set when an agent started this sequence for a sub-agent (RFC 8693 delegation). */
  delegation?: Delegation;
}

export interface Delegation {
  /** The parent sequence and the receipt of the decision that allowed the delegation. */
  parent: string;
  parentReceipt: string;
  /** The nested actor chain the child's capabilities carry. */
  act: Act;
  /**
   * When the delegating capability expires (seconds): no capability of the child outlives it.
   * Absent in sequences delegated before it was recorded.
   */
  until?: number;
}

/**
 * Where one sequence above a delegated one stood when its child decided, as its
 * own ledger answered: a child lives only while every sequence above it is
 * active at the stage the delegation came from (its own stage's id).
 */
export interface AncestorStanding {
  sequence: string;
  /** The id of its current stage ("" when it has none). */
  stage: string;
  /** "unknown": no sequence answered by that id, which never holds for a real parent. */
  status: "active" | "sealed" | "unknown";
}

/** A grant a delegating agent asks for its sub-agent: a subset of its own current stage. */
export interface DelegatedGrant {
  audience: string;
  actions: string[];
  uses: number;
  where?: string;
}

/** One piece of evidence as a capability names it: who, what, which token. */
export interface EvidenceItem {
  iss: string;
  type: string;
  jti: string;
  /** SHA-256 of the compact JWS as presented. */
  digest: string;
}

/** An attestation accepted towards the gate that is currently pending. */
export interface AcceptedEvidence extends EvidenceItem {
  requirement: number;
}

/** A tool's successful outcome accepted towards the pending gate. */
export interface AcceptedOutcome {
  requirement: number;
  tool: string;
  action: string;
  /** Hash of the redeem receipt the outcome is about (its one-time key). */
  receipt: string;
}

/** An approval accepted towards the pending gate; counts until `expires_at`. */
export interface AcceptedApproval {
  approver: string;
  jti: string;
  digest: string;
  iat: number;
  /** Seconds since the epoch: min(exp, iat + the gate's max age). */
  expires_at: number;
}

/** The rejection that shut the pending gate for good. */
export interface GateRejection {
  approver: string;
  jti: string;
  at: number;
  comment?: string;
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
  /** totals[g]: the sum of grant g's `sum.arg` over its allowed uses. */
  totals: number[];
  evidence: AcceptedEvidence[];
  outcomes: AcceptedOutcome[];
  approvals: AcceptedApproval[];
  rejection: GateRejection | null;
  /**
   * SHA-256 of what approvers of the pending gate are asked to approve
   * (`approvalSubject()`), derived from this snapshot by the caller because
   * hashing is asynchronous in Workers; null when no gate waits for approvals.
   */
  approvalDigest: string | null;
  capability: CurrentCapability | null;
  nonceUsed(kind: NonceKind, jti: string): boolean;
}

export type NonceKind = "capability" | "attestation" | "approval" | "dpop" | "outcome";

/** Every request `decide()` knows; exactly what a receipt records as its inputs. */
export type LedgerRequest =
  | {
      kind: "start";
      params: Record<string, unknown>;
      subject: string;
      actor: string;
      orchestrator: string;
      /** Recorded so an auditor can rebuild the sequence record from the first receipt alone. */
      actorJkt?: string;
      delegation?: Delegation;
      fresh: Fresh;
    }
  | {
      kind: "redeem";
      tool: string;
      action: string;
      args: Record<string, unknown>;
      token: CapabilityClaims;
      tokenDigest: string;
      /** The DPoP proof the agent sent the tool, with the tool's request method and URL. */
      dpop?: { proof: DpopPresentation; htm: string; htu: string } | undefined;
      signals?: ConsultedSignal[] | undefined;
      /** Set when the tool's own offline check refused this capability and reports it: never an ALLOW. */
      refused?: ReportedRefusal | undefined;
      /**
       * A delegated sequence's ancestors, nearest first, as their ledgers stood just
       * before this decision (recorded, so a replay sees what the gate saw).
       */
      lineage?: AncestorStanding[] | undefined;
    }
  | {
      kind: "evidence";
      /** A Baton attestation, or a workload token of an attester declared by issuer (its claims are what the gate's CEL sees). */
      attestation: AttestationCheck | WorkloadTokenCheck;
      fresh: Fresh;
      signals?: ConsultedSignal[] | undefined;
    }
  | { kind: "approval"; approval: ApprovalCheck; fresh: Fresh; signals?: ConsultedSignal[] | undefined }
  | {
      kind: "outcome";
      tool: string;
      /** The ALLOW redeem receipt (verified by the shell) the report is about. */
      redeemed: { n: number; hash: string; stage: string; action: string };
      outcome: "succeeded" | "failed" | "unknown";
      detail?: string | undefined;
      fresh: Fresh;
      signals?: ConsultedSignal[] | undefined;
    }
  | {
      kind: "delegate";
      token: CapabilityClaims;
      tokenDigest: string;
      dpop?: { proof: DpopPresentation; htm: string; htu: string } | undefined;
      /** The sub-agent, and what it asks for it. */
      actor: string;
      grants: DelegatedGrant[];
      /** As for a redeem: a sub-agent hands on only while its ancestors' stage is open. */
      lineage?: AncestorStanding[] | undefined;
    }
  | { kind: "reissue"; agent: string; fresh: Fresh }
  | { kind: "revoke"; orchestrator: string; reason: string };

/**
 * An active signal of the analysis plane, as the ledger fetched it for a decision
 * (only detectors the workflow declares). Recorded in the receipt's inputs, so a
 * replay uses the signals the gate saw, not today's.
 */
export interface ConsultedSignal {
  id: string;
  detector: string;
  version: number;
  severity: string;
  /** Seconds since the epoch. */
  expires_at: number;
}

/** Randomness is drawn by the shell and passed in, so `decide()` stays a function. */
export interface Fresh {
  jti: string;
}


export type Effect =
  | { type: "use"; grant: number; amount?: number; count?: number }
  | { type: "spend"; kind: NonceKind; jti: string }
  | { type: "accept_evidence"; evidence: AcceptedEvidence }
  | { type: "accept_approval"; approval: AcceptedApproval }
  | { type: "accept_outcome"; outcome: AcceptedOutcome }
  | { type: "reject_gate"; rejection: GateRejection }
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
  other_stages?: OtherStageGrant[];
  /** The attestations, then the approvals, that opened the stage. */
  evidence: EvidenceItem[];
  cnf?: { jkt: string };
}

export interface Outcome {
  decision: Decision;
  code: ReasonCode | null;
  message: string;
  details?: unknown;
  effects: Effect[];
  mint: MintPlan | null;
}
