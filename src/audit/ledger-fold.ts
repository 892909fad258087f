import { withApprovalDigest } from "../policy/approval-subject.js";
import type { CompiledWorkflow } from "../policy/compile.js";
import { applyEffects, initialState, nonceKey } from "../policy/fold.js";
import type { Effect, LedgerRequest, LedgerState, SequenceRecord } from "../policy/types.js";

/**
 * One sequence's ledger held in memory: the snapshot each decision sees and the nonces
 * spent, rebuilt by folding every decision's effects as the Durable Object persists them.
 * The auditor's replay (recorded history) and `baton test` (declared history) both run
 * through it, so they cannot build the state `decide()` sees in two ways.
 */
export class LedgerFold {
  readonly #spent = new Set<string>();
  #state: LedgerState | null = null;

  constructor(private readonly workflow: CompiledWorkflow) {}

  /** The ledger after the last folded decision (its `approvalDigest` not derived); null before the start. */
  get state(): LedgerState | null {
    return this.#state;
  }

  /**
   * The snapshot the decision on `request` sees, at the time the ledger reads it: a start
   * begins sequence `seq` at `at` (milliseconds); anything else reads the folded ledger.
   */
  async snapshot(request: LedgerRequest, seq: string, at: number): Promise<LedgerState> {
    if (request.kind === "start") return this.#startState(request, seq, at);
    if (!this.#state) throw new Error("the history does not begin with its start");
    return withApprovalDigest(this.workflow, this.#state);
  }

  /** Applies the effects of a decision made on `state`. */
  fold(state: LedgerState, effects: readonly Effect[]): void {
    this.#state = { ...applyEffects(state, effects, this.#spent), nonceUsed: state.nonceUsed };
  }

  #startState(request: Extract<LedgerRequest, { kind: "start" }>, seq: string, at: number): LedgerState {
    const { workflow } = this;
    const record: SequenceRecord = {
      seq,
      workflowId: workflow.id,
      workflow: workflow.hash,
      params: request.params,
      subject: request.subject,
      actor: request.actor,
      orchestrator: request.orchestrator,
      createdAt: at,
      ...(request.actorJkt ? { actorJkt: request.actorJkt } : {}),
      ...(request.delegation ? { delegation: request.delegation } : {}),
    };
    const spent = this.#spent;
    return initialState(record, (kind, jti) => spent.has(nonceKey(kind, jti)));
  }
}
