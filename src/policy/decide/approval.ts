import { approvalExpiresAt, approvalsPending, countingApprovals, missingEvidence } from "../gate-tally.js";
import type { AcceptedApproval, Effect, Outcome } from "../types.js";
import { type DecisionContext, type RequestOf, withState } from "./context.js";
import { gateOutcome, pendingGate } from "./gate.js";
import { deny, escalate } from "./verdicts.js";

/**
 * An approval (or a rejection) of the pending gate by a member of its group, once
 * its machine evidence is in; the approvals that count may open the next stage.
 */
export function decideApproval(context: DecisionContext, request: RequestOf<"approval">): Outcome {
  const { state, nowSeconds, skew } = context;
  const check = request.approval;
  if (!check.ok) return deny("EVIDENCE_INVALID", check.message);
  const { claims, approver } = check;
  const pending = pendingGate(context, "approval", claims);
  if ("outcome" in pending) return pending.outcome;
  const { gate } = pending;
  // After the jti check: the same assertion again is REPLAY_NONCE; a fresh approval whose
  // authenticator counter went back is a cloned authenticator.
  if ("counter_regressed" in check && check.counter_regressed) {
    return deny("EVIDENCE_INVALID", "the passkey's signature counter did not increase: the authenticator may be cloned");
  }
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

  if (claims.iat - skew > nowSeconds) return deny("EVIDENCE_STALE", "approval is issued in the future", { iat: claims.iat });
  const expiresAt = approvalExpiresAt(claims, required);
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
  if (countingApprovals(state.approvals, context).some((a) => a.approver === approver.id)) {
    return escalate(`${approver.id} already approved; an approver counts once`, approvalsPending(gate, state.approvals, context));
  }
  const accepted: AcceptedApproval = { approver: approver.id, jti: claims.jti, digest: check.digest, iat: claims.iat, expires_at: expiresAt };
  const effects: Effect[] = [
    { type: "spend", kind: "approval", jti: claims.jti },
    { type: "accept_approval", approval: accepted },
  ];
  const approvals = [...state.approvals.filter((a) => a.approver !== approver.id), accepted];
  const after = withState(context, { ...state, approvals });
  return gateOutcome(after, gate, { effects, fresh: request.fresh, what: `approval by ${approver.id} accepted`, signals: request.signals });
}
