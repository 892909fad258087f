import type { Clock } from "../clock.js";
import type { CompiledWorkflow } from "../compile.js";
import type { LedgerRequest, LedgerState } from "../types.js";

/** What every step of one decision reads: the workflow version, the ledger snapshot, and the time read once. */
export interface DecisionContext extends Clock {
  readonly workflow: CompiledWorkflow;
  readonly state: LedgerState;
  /** Milliseconds since the epoch. */
  readonly now: number;
}

/** One kind of request `decide()` knows, e.g. `RequestOf<"redeem">`. */
export type RequestOf<K extends LedgerRequest["kind"]> = Extract<LedgerRequest, { kind: K }>;

export function decisionContext(workflow: CompiledWorkflow, state: LedgerState, now: number): DecisionContext {
  return { workflow, state, now, nowSeconds: now / 1000, skew: workflow.definition.clock_skew_seconds };
}

/** The same decision over the snapshot as it stands once this request's evidence is counted. */
export function withState(context: DecisionContext, state: LedgerState): DecisionContext {
  return { ...context, state };
}
