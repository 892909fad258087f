import { approvalSubject } from "../policy/approval-subject.js";
import type { CompiledWorkflow } from "../policy/compile.js";
import type { LedgerState } from "../policy/types.js";
import type { Head } from "./store.js";

/**
 * The public view of a sequence: where it stands and what its next gate waits
 * for — attestations, then approvals: which group, how many more, who already
 * approved and until when, and exactly what to approve (subject and digest). No tokens.
 */
export function describeSequence(workflow: CompiledWorkflow, state: LedgerState, head: Head | null, now: number) {
  const stages = workflow.definition.stages;
  const gate = state.status === "active" ? workflow.gates[state.stage + 1] : null;
  const satisfied = new Set(state.evidence.map((e) => e.requirement));
  const skew = workflow.definition.clock_skew_seconds;
  const counting = state.approvals.filter((a) => a.expires_at + skew > now / 1000);
  const reported = new Set(state.outcomes.map((o) => o.requirement));
  const attestationsDone = gate ? gate.attestations.every((_, i) => satisfied.has(i)) && gate.outcomes.every((_, i) => reported.has(i)) : false;
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
    next_gate: gate
      ? {
          opens: stages[state.stage + 1]?.id ?? null,
          attestations: gate.attestations.map(({ requirement }, i) => ({
            issuer: requirement.issuer,
            type: requirement.type,
            satisfied: satisfied.has(i),
          })),
          outcomes: gate.outcomes.map((o, i) => ({ tool: o.tool, action: o.action, succeeded: reported.has(i) })),
          approvals: gate.approvals && {
            group: gate.approvals.group,
            required: gate.approvals.count,
            remaining: Math.max(0, gate.approvals.count - counting.length),
            approved_by: counting.map((a) => ({ approver: a.approver, at: a.iat, expires_at: a.expires_at })),
            until: counting.length > 0 ? Math.min(...counting.map((a) => a.expires_at)) : null,
            exclude_subject: gate.approvals.exclude_subject,
            exclude_orchestrator: gate.approvals.exclude_orchestrator,
            rejected: state.rejection,
            // What to sign: approvals are taken once the attestations are in.
            ready: attestationsDone && state.rejection === null,
            subject: attestationsDone ? approvalSubject(workflow, state) : null,
            digest: attestationsDone ? state.approvalDigest : null,
          },
        }
      : null,
    head: head && { n: head.n, hash: head.hash },
  };
}
