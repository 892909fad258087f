import type { Effect, LedgerState } from "./types.js";

/**
 * Applies a decision's effects to a ledger snapshot. The Durable Object persists
 * the same effects as SQL; the auditor's replay folds them in memory with this.
 * `spent` receives the nonces the effects spend.
 */
export function applyEffects(state: LedgerState, effects: readonly Effect[], spent: Set<string>): LedgerState {
  let next: LedgerState = { ...state, uses: [...state.uses], evidence: [...state.evidence] };
  for (const effect of effects) {
    switch (effect.type) {
      case "use":
        next.uses[effect.grant] = (next.uses[effect.grant] ?? 0) + 1;
        break;
      case "spend":
        spent.add(nonceKey(effect.kind, effect.jti));
        break;
      case "accept_evidence":
        next.evidence.push(effect.evidence);
        break;
      case "advance":
        next = { ...next, stage: effect.stage, uses: [], evidence: [], capability: null };
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
