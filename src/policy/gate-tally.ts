import type { Clock } from "./clock.js";
import type { CompiledGate, CompiledRequirement } from "./compile.js";
import type { OutcomeRequirement } from "./workflow-schema.js";
import type { AcceptedApproval, EvidenceItem, LedgerState } from "./types.js";

// What counts towards a gate, in one place: `decide()` opens gates by it, the
// sequence's description shows it, and the approval digest is taken over its evidence.

type GateEvidence = Pick<LedgerState, "evidence" | "outcomes">;

/** Each requirement of the gate and whether the evidence accepted so far meets it. */
export function gateProgress(gate: CompiledGate, state: GateEvidence) {
  const satisfied = new Set(state.evidence.map((e) => e.requirement));
  const reported = new Set(state.outcomes.map((o) => o.requirement));
  return {
    attestations: gate.attestations.map((compiled: CompiledRequirement, i) => ({ compiled, satisfied: satisfied.has(i) })),
    outcomes: gate.outcomes.map((requirement: OutcomeRequirement, i) => ({ requirement, succeeded: reported.has(i) })),
  };
}

/** What the gate's machine evidence still lacks: attestations, then tools' successful outcomes. */
export function missingEvidence(gate: CompiledGate, state: GateEvidence) {
  const progress = gateProgress(gate, state);
  return [
    ...progress.attestations.filter((a) => !a.satisfied).map(({ compiled: { requirement: r } }) => ({ issuer: r.issuer, type: r.type })),
    ...progress.outcomes.filter((o) => !o.succeeded).map(({ requirement: o }) => ({ tool: o.tool, outcome: `${o.action} succeeded` })),
  ];
}

/** The evidence items a capability names, in a fixed order: attestations, outcomes (approvals follow them). */
export function evidenceItems(state: GateEvidence): EvidenceItem[] {
  return [
    ...state.evidence.map(({ iss, type, jti, digest }) => ({ iss, type, jti, digest })),
    ...state.outcomes.map(({ tool, action, receipt }) => ({ iss: tool, type: `outcome:${action}`, jti: receipt, digest: receipt })),
  ];
}

/** The approvals that opened a gate, as the capability it mints names them after the other evidence. */
export function approvalEvidence(approvals: readonly AcceptedApproval[]): EvidenceItem[] {
  return approvals.map(({ approver, jti, digest }) => ({ iss: approver, type: "approval", jti, digest }));
}

/** When an approval stops counting: its own `exp`, or the gate's maximum age after it was issued. */
export function approvalExpiresAt(claims: { iat: number; exp?: number | undefined }, required: { max_age_seconds: number }): number {
  return Math.min(claims.exp ?? Number.POSITIVE_INFINITY, claims.iat + required.max_age_seconds);
}

/** Approvals still in force at `now`: an expired approval no longer counts. */
export function countingApprovals(approvals: readonly AcceptedApproval[], { nowSeconds, skew }: Clock): AcceptedApproval[] {
  return approvals.filter((a) => a.expires_at + skew > nowSeconds);
}

/** What an ESCALATE tells the caller: which group, how many more, who already approved, until when. */
export function approvalsPending(gate: CompiledGate, approvals: readonly AcceptedApproval[], clock: Clock) {
  const required = gate.approvals;
  if (!required) return undefined;
  const counting = countingApprovals(approvals, clock);
  return {
    group: required.group,
    required: required.count,
    remaining: Math.max(0, required.count - counting.length),
    approved_by: counting.map((a) => ({ approver: a.approver, at: a.iat, expires_at: a.expires_at })),
    until: counting.length > 0 ? Math.min(...counting.map((a) => a.expires_at)) : null,
  };
}
