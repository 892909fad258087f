import type { CompiledGate, CompiledWorkflow } from "../compile.js";
import { approvalsPending, countingApprovals, evidenceItems, missingEvidence } from "../gate-tally.js";
import type { ConsultedSignal, Effect, EvidenceItem, Fresh, LedgerState, Outcome } from "../types.js";
import { capabilityEffects, planCapability } from "./mint.js";
import { signalProblem } from "./signals.js";
import { allow, deny, escalate } from "./verdicts.js";

/**
 * The gate after `state`'s evidence (which already includes this request's):
 * still waiting on attestations (ALLOW, nothing opens), waiting only on approvals
 * (ESCALATE), or satisfied — then the next stage opens, or the sequence seals.
 */
export function gateOutcome(
  workflow: CompiledWorkflow,
  state: LedgerState,
  gate: CompiledGate,
  effects: Effect[],
  fresh: Fresh,
  now: number,
  what: string,
  signals: readonly ConsultedSignal[] | undefined,
): Outcome {
  const missing = missingEvidence(gate, state);
  if (missing.length > 0) return { ...allow(`${what}; gate still waits`, effects), details: { pending: missing } };
  const skew = workflow.definition.clock_skew_seconds;
  const nowSeconds = now / 1000;
  const approvals = gate.approvals ? countingApprovals(state.approvals, nowSeconds, skew) : [];
  if (gate.approvals && approvals.length < gate.approvals.count) {
    return { ...escalate(`${what}; the gate waits for approvals`, approvalsPending(gate, state.approvals, nowSeconds, skew)), effects };
  }
  const signalled = signalProblem(gate.signals ?? undefined, signals, nowSeconds);
  if (signalled) return signalled;
  const nextStage = state.stage + 1;
  if (nextStage === workflow.definition.stages.length) {
    return allow(`${what}; sequence complete`, [...effects, { type: "seal", reason: "completed" }]);
  }
  const evidence: EvidenceItem[] = [
    ...evidenceItems(state),
    ...approvals.map(({ approver, jti, digest }) => ({ iss: approver, type: "approval", jti, digest })),
  ];
  const mint = planCapability(workflow, state, nextStage, fresh, now, evidence);
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
  workflow: CompiledWorkflow,
  state: LedgerState,
  kind: "attestation" | "approval",
  claims: { seq: string; stage: string; jti: string },
): { gate: CompiledGate } | { outcome: Outcome } {
  const stage = workflow.definition.stages[state.stage];
  if (!stage) return { outcome: deny("SEQUENCE_VIOLATION", "sequence has no current stage") };
  if (claims.seq !== state.record.seq) return { outcome: deny("EVIDENCE_INVALID", `${kind} is bound to another sequence`) };
  if (state.nonceUsed(kind, claims.jti)) return { outcome: deny("REPLAY_NONCE", `${kind} jti was already used`) };
  if (claims.stage !== stage.id) {
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
