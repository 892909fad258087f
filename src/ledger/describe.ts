import { approvalSubject } from "../policy/approval-subject.js";
import type { Clock } from "../policy/clock.js";
import type { CompiledGate, CompiledWorkflow } from "../policy/compile.js";
import { approvalsPending, gateProgress, missingEvidence } from "../policy/gate-tally.js";
import type { LedgerState } from "../policy/types.js";
import type { Head } from "./store.js";

/**
 * The public view of a sequence: where it stands and what its next gate waits
 * for — attestations, then approvals: which group, how many more, who already
 * approved and until when, and exactly what to approve (subject and digest). No tokens.
 * What counts towards the gate is `decide()`'s own arithmetic (policy/gate-tally.ts).
 */
export function describeSequence(workflow: CompiledWorkflow, state: LedgerState, head: Head | null, now: number) {
  const stages = workflow.definition.stages;
  const gate = state.status === "active" ? workflow.gates[state.stage + 1] : null;
  const clock = { nowSeconds: now / 1000, skew: workflow.definition.clock_skew_seconds };
  return {
    id: state.record.seq,
    workflow: { id: workflow.id, hash: workflow.hash },
    subject: state.record.subject,
    actor: state.record.actor,
    orchestrator: state.record.orchestrator,
    params: state.record.params,
    created_at: state.record.createdAt,
    status: state.status,
    seal_reason: state.sealReason,
    stage: { index: state.stage, id: stages[state.stage]?.id ?? null },
    stages: stages.map((s) => s.id),
    uses: (workflow.grants[state.stage] ?? []).map((g, i) => ({
      tool: g.grant.audience,
      actions: g.grant.actions,
      used: state.uses[i] ?? 0,
      limit: g.grant.uses,
      ...(g.grant.sum ? { sum: { arg: g.grant.sum.arg, total: state.totals[i] ?? 0, max: g.grant.sum.max } } : {}),
    })),
    capability: state.capability && { jti: state.capability.jti, exp: state.capability.exp, reissues: state.capability.reissues },
    next_gate: gate ? nextGate(workflow, state, gate, clock) : null,
    head: head && { n: head.n, hash: head.hash },
  };
}

function nextGate(workflow: CompiledWorkflow, state: LedgerState, gate: CompiledGate, clock: Clock) {
  const progress = gateProgress(gate, state);
  const evidenceIn = missingEvidence(gate, state).length === 0;
  return {
    opens: workflow.definition.stages[state.stage + 1]?.id ?? null,
    attestations: progress.attestations.map(({ compiled: { requirement }, satisfied }) => ({
      issuer: requirement.issuer,
      type: requirement.type,
      satisfied,
    })),
    outcomes: progress.outcomes.map(({ requirement: o, succeeded }) => ({ tool: o.tool, action: o.action, succeeded })),
    approvals: gate.approvals && {
      ...approvalsPending(gate, state.approvals, clock),
      exclude_subject: gate.approvals.exclude_subject,
      exclude_orchestrator: gate.approvals.exclude_orchestrator,
      rejected: state.rejection,
      // What to sign: approvals are taken once the attestations are in.
      ready: evidenceIn && state.rejection === null,
      subject: evidenceIn ? approvalSubject(workflow, state) : null,
      digest: evidenceIn ? state.approvalDigest : null,
    },
  };
}
