import type { Effect, LedgerState } from "./types.js";

/**
 * Applies a decision's effects to a ledger snapshot. The Durable Object persists
 * the same effects as SQL; the auditor's replay folds them in memory with this.
 * `spent` receives the nonces the effects spend. `approvalDigest` is derived
 * from the rest: the folded state carries null, and the caller recomputes it.
 */
export function applyEffects(state: LedgerState, effects: readonly Effect[], spent: Set<string>): LedgerState {
  let next: LedgerState = {
    ...state,
    uses: [...state.uses],
    totals: [...state.totals],
    evidence: [...state.evidence],
    outcomes: [...state.outcomes],
    approvals: [...state.approvals],
    approvalDigest: null,
  };
  for (const effect of effects) {
    switch (effect.type) {
      case "use":
        next.uses[effect.grant] = (next.uses[effect.grant] ?? 0) + (effect.count ?? 1);
        if (effect.amount !== undefined) next.totals[effect.grant] = (next.totals[effect.grant] ?? 0) + effect.amount;
        break;
      case "spend":
        spent.add(nonceKey(effect.kind, effect.jti));
        break;
      case "accept_evidence":
        next.evidence.push(effect.evidence);
        break;
      case "accept_approval":
        // One approval per approver per gate: a newer one replaces an expired one.
        next.approvals = [...next.approvals.filter((a) => a.approver !== effect.approval.approver), effect.approval];
        break;
      case "accept_outcome":
        next.outcomes.push(effect.outcome);
        break;
      case "reject_gate":
        next.rejection = effect.rejection;
        break;
      case "advance":
        next = { ...next, stage: effect.stage, uses: [], totals: [], evidence: [], outcomes: [], approvals: [], rejection: null, capability: null };
        break;
      case "capability":
        next.capability = {
          jti: effect.jti,
          exp: effect.exp,
          reissues: effect.reissue ? (next.capability?.reissues ?? 0) + 1 : 0,
        };
        break;
      case "seal":
        next = { ...next, status: "sealed", sealReason: effect.reason };
        break;
    }
  }
  return next;
}

export function nonceKey(kind: string, jti: string): string {
  return `${kind}:${jti}`;
}
