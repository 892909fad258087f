import type { BatonError, ReasonCode } from "../errors.js";
import type { CompiledWorkflow } from "../policy/compile.js";
import type { Decision, LedgerRequest, LedgerState, Outcome } from "../policy/types.js";
import type { describeSequence } from "./describe.js";
import type { StoredSequence } from "./store.js";

/** A refusal as plain data: what `BatonError` carries. The API gives it its HTTP status. */
export interface Refusal {
  code: ReasonCode;
  message: string;
  details?: unknown;
  /** The receipt of the refusal, when it was a receipted decision. */
  receipt: string | null;
}

/** A decision's answer, exactly the JSON the API sends (its members in this order). */
export interface DecisionBody {
  decision: Decision;
  code: ReasonCode | null;
  message: string;
  sequence: string;
  sealed: boolean;
  receipt: string | null;
  details?: unknown;
  stage?: string | undefined;
  capability?: string;
  expires_at?: number;
}

export type SequenceView = ReturnType<typeof describeSequence> & { signed_head: string | null };

/**
 * What the SequenceLedger answers: plain data tagged by result, rendered as HTTP
 * by the API (src/api/respond.ts). It crosses RPC by structured clone, and is
 * what an idempotency record keeps, so a retry is rendered from the same value.
 */
export type LedgerAnswer =
  | { kind: "refused"; error: Refusal }
  /** `started`: the decision created the sequence. */
  | { kind: "decided"; started: boolean; body: DecisionBody }
  | { kind: "sequence"; body: SequenceView }
  | { kind: "receipts"; receipts: string[]; last: number | null };

/** A delegation's answer: the child's start, and the parent's receipt that allowed it. */
export type DelegationAnswer = LedgerAnswer | { kind: "delegated"; child: LedgerAnswer; parent: { sequence: string; receipt: string } };

export function refused(e: BatonError): LedgerAnswer {
  return { kind: "refused", error: refusal(e.code, e.message, e.details, e.receipt) };
}

export function unknownSequence(): LedgerAnswer {
  return { kind: "refused", error: refusal("UNKNOWN_SEQUENCE", "no such sequence") };
}

function refusal(code: ReasonCode, message: string, details?: unknown, receipt: string | null = null): Refusal {
  return { code, message, ...(details === undefined ? {} : { details }), receipt };
}

/** The answer to a receipted decision: a refusal with its receipt, or the decision and what it minted. */
export function decisionAnswer(
  outcome: Outcome,
  request: LedgerRequest,
  receipt: string,
  capability: { token: string; exp: number } | null,
  stored: StoredSequence,
  compiled: CompiledWorkflow,
): LedgerAnswer {
  if (outcome.decision === "DENY" && outcome.code) {
    return { kind: "refused", error: refusal(outcome.code, outcome.message, outcome.details, receipt) };
  }
  const sealed = outcome.effects.some((e) => e.type === "seal");
  const advancedTo = outcome.effects.find((e) => e.type === "advance");
  const stageIndex = advancedTo?.type === "advance" ? advancedTo.stage : null;
  const body: DecisionBody = {
    decision: outcome.decision,
    code: outcome.code,
    message: outcome.message,
    sequence: stored.record.seq,
    sealed,
    receipt,
  };
  if (outcome.details !== undefined) body.details = outcome.details;
  if (stageIndex !== null) body.stage = compiled.definition.stages[stageIndex]?.id;
  if (capability) {
    body.capability = capability.token;
    body.expires_at = capability.exp;
    body.stage ??= outcome.mint?.stageId;
  }
  return { kind: "decided", started: request.kind === "start", body };
}

/** The live capability handed out again: a read, not a decision, so no receipt. */
export function currentCapability(stored: StoredSequence, capability: { token: string; exp: number }, state: LedgerState): LedgerAnswer {
  return {
    kind: "decided",
    started: false,
    body: {
      decision: "ALLOW",
      code: null,
      message: "current capability",
      sequence: stored.record.seq,
      sealed: state.status === "sealed",
      capability: capability.token,
      expires_at: capability.exp,
      receipt: null,
    },
  };
}
