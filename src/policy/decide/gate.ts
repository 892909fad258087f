import type { CompiledGate } from "../compile.js";
import { approvalEvidence, approvalsPending, countingApprovals, evidenceItems, missingEvidence } from "../gate-tally.js";
import type { ConsultedSignal, Effect, Fresh, NonceKind, Outcome } from "../types.js";
import type { DecisionContext } from "./context.js";
import { capabilityEffects, planCapability } from "./mint.js";
import { signalProblem } from "./signals.js";
import { allow, deny, escalate } from "./verdicts.js";

/** A request that counts towards the pending gate, as the gate's outcome needs it. */
export interface GateStep {
  /** This request's effects so far (spending its token, accepting its evidence). */
  effects: Effect[];
  /** The jti of the capability minted if the gate opens the next stage. */
  fresh: Fresh;
  /** How the outcome's message names this request. */
  what: string;
  signals: readonly ConsultedSignal[] | undefined;
}

/**
 * The gate after the context's evidence (which already includes this request's):
 * still waiting on attestations (ALLOW, nothing opens), waiting only on approvals
 * (ESCALATE), or satisfied — then the next stage opens, or the sequence seals.
 */
export function gateOutcome(context: DecisionContext, gate: CompiledGate, { effects, fresh, what, signals }: GateStep): Outcome {
  const { workflow, state } = context;
  const missing = missingEvidence(gate, state);
  if (missing.length > 0) return { ...allow(`${what}; gate still waits`, effects), details: { pending: missing } };
  const approvals = gate.approvals ? countingApprovals(state.approvals, context) : [];
  if (gate.approvals && approvals.length < gate.approvals.count) {
    return { ...escalate(`${what}; the gate waits for approvals`, approvalsPending(gate, state.approvals, context)), effects };
  }
  const signalled = signalProblem(gate.signals ?? undefined, signals, context.nowSeconds);
  if (signalled) return signalled;
  const nextStage = state.stage + 1;
  if (nextStage === workflow.definition.stages.length) {
    return allow(`${what}; sequence complete`, [...effects, { type: "seal", reason: "completed" }]);
  }
  const mint = planCapability(context, nextStage, fresh, [...evidenceItems(state), ...approvalEvidence(approvals)]);
  return allow(
    `${what}; stage ${mint.stageId} opened`,
    [...effects, { type: "advance", stage: nextStage }, ...capabilityEffects(mint, false)],
    mint,
  );
}

/**
 * The gate that evidence for the current stage goes to, or why it may not:
 * another sequence, a spent jti, another stage, no gate, a rejected gate.
 * An attestation for another stage is out of order (SEQUENCE_VIOLATION); an
 * approval names the gate it approves, so for another stage it is simply not
 * evidence for this one (EVIDENCE_INVALID).
 */
export function pendingGate(
  { workflow, state }: DecisionContext,
  kind: Extract<NonceKind, "attestation" | "approval">,
  /** `stage` null: evidence that names no stage (a workload token) goes to the current stage's gate. */
  claims: { seq: string; stage: string | null; jti: string },
): { gate: CompiledGate } | { outcome: Outcome } {
  const stage = workflow.definition.stages[state.stage];
  if (!stage) return { outcome: deny("SEQUENCE_VIOLATION", "sequence has no current stage") };
  if (claims.seq !== state.record.seq) return { outcome: deny("EVIDENCE_INVALID", `${kind} is bound to another sequence`) };
  if (state.nonceUsed(kind, claims.jti)) return { outcome: deny("REPLAY_NONCE", `${kind} jti was already used`) };
  if (claims.stage !== null && claims.stage !== stage.id) {
    const message = `${kind} is for stage ${claims.stage}; the current stage is ${stage.id}`;
    const details = { [`${kind}_stage`]: claims.stage, current_stage: stage.id };
    return { outcome: deny(kind === "approval" ? "EVIDENCE_INVALID" : "SEQUENCE_VIOLATION", message, details) };
  }
  const gate = workflow.gates[state.stage + 1];
  if (!gate) return { outcome: deny("SEQUENCE_VIOLATION", `no gate after stage ${stage.id} takes evidence`) };
  if (state.rejection) {
    return {
      outcome: deny("APPROVAL_DENIED", `${state.rejection.approver} rejected this gate; start a new sequence`, {
        rejected_by: state.rejection.approver,
      }),
    };
  }
  return { gate };
}
