import type { CompiledGate } from "./compile.js";
import type { AcceptedApproval, EvidenceItem, LedgerState } from "./types.js";

/** What the gate's machine evidence still lacks: attestations, then tools' successful outcomes. */
export function missingEvidence(gate: CompiledGate, state: Pick<LedgerState, "evidence" | "outcomes">) {
  const satisfied = new Set(state.evidence.map((e) => e.requirement));
  const reported = new Set(state.outcomes.map((o) => o.requirement));
  return [
    ...gate.attestations.filter((_, i) => !satisfied.has(i)).map(({ requirement: r }) => ({ issuer: r.issuer, type: r.type })),
    ...gate.outcomes.filter((_, i) => !reported.has(i)).map((o) => ({ tool: o.tool, outcome: `${o.action} succeeded` })),
  ];
}

/** The evidence items a capability names, in a fixed order: attestations, outcomes, then approvals. */
export function evidenceItems(state: Pick<LedgerState, "evidence" | "outcomes">): EvidenceItem[] {
  return [
    ...state.evidence.map(({ iss, type, jti, digest }) => ({ iss, type, jti, digest })),
    ...state.outcomes.map(({ tool, action, receipt }) => ({ iss: tool, type: `outcome:${action}`, jti: receipt, digest: receipt })),
  ];
}

/** Approvals still in force at `now`: an expired approval no longer counts. */
export function countingApprovals(approvals: readonly AcceptedApproval[], nowSeconds: number, skew: number): AcceptedApproval[] {
  return approvals.filter((a) => a.expires_at + skew > nowSeconds);
}

/** What an ESCALATE tells the caller: which group, how many more, who already approved, until when. */
export function approvalsPending(gate: CompiledGate, approvals: readonly AcceptedApproval[], nowSeconds: number, skew: number) {
  const required = gate.approvals;
  if (!required) return undefined;
  const counting = countingApprovals(approvals, nowSeconds, skew);
  return {
    group: required.group,
    required: required.count,
    remaining: Math.max(0, required.count - counting.length),
    approved_by: counting.map((a) => ({ approver: a.approver, at: a.iat, expires_at: a.expires_at })),
    until: counting.length > 0 ? Math.min(...counting.map((a) => a.expires_at)) : null,
  };
}
