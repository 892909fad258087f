import type { CompiledWorkflow } from "../policy/compile.js";
import type { LedgerState } from "../policy/types.js";
import type { Head } from "./store.js";

/** The public view of a sequence: where it stands and what its next gate waits for. No tokens. */
export function describeSequence(workflow: CompiledWorkflow, state: LedgerState, head: Head | null) {
  const stages = workflow.definition.stages;
  const gate = state.status === "active" ? workflow.gates[state.stage + 1] : null;
  const satisfied = new Set(state.evidence.map((e) => e.requirement));
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
    })),
    capability: state.capability && { jti: state.capability.jti, exp: state.capability.exp, reissues: state.capability.reissues },
    next_gate: gate
      ? gate.map(({ requirement }, i) => ({ issuer: requirement.issuer, type: requirement.type, satisfied: satisfied.has(i) }))
      : null,
    head: head && { n: head.n, hash: head.hash },
  };
}
