import type { CompiledWorkflow } from "../compile.js";
import { approvalsPending, countingApprovals, missingEvidence } from "../gate-tally.js";
import type { AcceptedApproval, Effect, LedgerRequest, LedgerState, Outcome } from "../types.js";
import { gateOutcome, pendingGate } from "./gate.js";
import { deny, escalate } from "./verdicts.js";

export function decideApproval(
  workflow: CompiledWorkflow,
  state: LedgerState,
  request: Extract<LedgerRequest, { kind: "approval" }>,
  now: number,
): Outcome {
  const check = request.approval;
  if (!check.ok) return deny("EVIDENCE_INVALID", check.message);
  const { claims, approver } = check;
  const pending = pendingGate(workflow, state, "approval", claims);
  if ("outcome" in pending) return pending.outcome;
  const { gate } = pending;
  const required = gate.approvals;
  if (!required) return deny("EVIDENCE_INVALID", "the pending gate takes no approvals");

  // Who may approve: a member of the group, and (by default) neither the subject nor the orchestrator.
  if (!approver.groups.includes(required.group)) {
    return deny("EVIDENCE_INVALID", `approver ${approver.id} is not in group ${required.group}`, { group: required.group });
  }
  const record = state.record;
  if (required.exclude_subject && (approver.id === record.subject || approver.subject === record.subject)) {
    return deny("EVIDENCE_INVALID", `separation of duties: ${approver.id} is the subject of this sequence`);
  }
  if (required.exclude_orchestrator && approver.id === record.orchestrator) {
    return deny("EVIDENCE_INVALID", `separation of duties: ${approver.id} started this sequence`);
  }

  const skew = workflow.definition.clock_skew_seconds;
  const nowSeconds = now / 1000;
  if (claims.iat - skew > nowSeconds) return deny("EVIDENCE_STALE", "approval is issued in the future", { iat: claims.iat });
  const expiresAt = Math.min(claims.exp ?? Number.POSITIVE_INFINITY, claims.iat + required.max_age_seconds);
  if (expiresAt + skew <= nowSeconds) return deny("EVIDENCE_STALE", "approval has expired", { expires_at: expiresAt });

  // Approvals are of the gate's evidence: they come once every attestation and outcome is in.
  const missing = missingEvidence(gate, state);
  if (missing.length > 0) {
    return deny("SEQUENCE_VIOLATION", "the gate still waits for evidence; approvals come after it", { pending: missing });
  }
  if (claims.digest !== state.approvalDigest) {
    return deny("EVIDENCE_INVALID", "approval is for something else: its digest does not match this gate", {
      expected: state.approvalDigest,
    });
  }

  if (claims.decision === "reject") {
    // The one denial that changes state: silence is never consent, and a "no" is final for this sequence.
    const rejection = { approver: approver.id, jti: claims.jti, at: claims.iat, ...(claims.comment ? { comment: claims.comment } : {}) };
    return {
      ...deny("APPROVAL_DENIED", `${approver.id} rejected; the gate stays shut`, { rejected_by: approver.id }),
      effects: [
        { type: "spend", kind: "approval", jti: claims.jti },
        { type: "reject_gate", rejection },
      ],
    };
  }
  if (countingApprovals(state.approvals, nowSeconds, skew).some((a) => a.approver === approver.id)) {
    return escalate(`${approver.id} already approved; an approver counts once`, approvalsPending(gate, state.approvals, nowSeconds, skew));
  }
  const accepted: AcceptedApproval = { approver: approver.id, jti: claims.jti, digest: check.digest, iat: claims.iat, expires_at: expiresAt };
  const effects: Effect[] = [
    { type: "spend", kind: "approval", jti: claims.jti },
    { type: "accept_approval", approval: accepted },
  ];
  const approvals = [...state.approvals.filter((a) => a.approver !== approver.id), accepted];
  return gateOutcome(workflow, { ...state, approvals }, gate, effects, request.fresh, now, `approval by ${approver.id} accepted`, request.signals);
}
