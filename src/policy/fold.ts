import type { AcceptedApproval, CurrentCapability, Effect, LedgerState, SequenceRecord } from "./types.js";

/** The ledger before its first decision: where the fold starts, live and in a replay. */
export function initialState(record: SequenceRecord, nonceUsed: LedgerState["nonceUsed"]): LedgerState {
  return {
    record,
    status: "active",
    sealReason: null,
    stage: 0,
    uses: [],
    totals: [],
    evidence: [],
    outcomes: [],
    approvals: [],
    rejection: null,
    approvalDigest: null,
    capability: null,
    nonceUsed,
  };
}

/**
 * Applies a decision's effects to a ledger snapshot. The Durable Object persists
 * the same effects as SQL (ledger/store.ts); the auditor's replay folds them in
 * memory with this. The two are held equal by test/effect-conformance.test.ts.
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
        next.approvals = [...next.approvals.filter((a) => a.approver !== effect.approval.approver), effect.approval].sort(byApprover);
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
        next.capability = nextCapability(next.capability, effect);
        break;
      case "seal":
        next = { ...next, status: "sealed", sealReason: effect.reason };
        break;
    }
  }
  return next;
}

/**
 * The capability a `capability` effect leaves current. The one place a re-issue is
 * counted: the store (SQL) and the fold (replay) both call it, so the limit the
 * gate enforces live is the one the replay enforces.
 */
export function nextCapability(current: CurrentCapability | null, effect: Extract<Effect, { type: "capability" }>): CurrentCapability {
  return { jti: effect.jti, exp: effect.exp, reissues: effect.reissue ? (current?.reissues ?? 0) + 1 : 0 };
}

/**
 * The canonical order of a gate's approvals: by approver, in code-point order.
 * The store reads them `ORDER BY approver`, and SQLite's BINARY collation compares
 * the UTF-8 bytes, which order like code points (not like JavaScript's UTF-16 `<`,
 * which puts U+10000 and above before U+E000..U+FFFF). The order reaches minted
 * capabilities (their evidence items and digest) and ESCALATE details, so the
 * replay must fold to the same order the live ledger reads. Sorting here, rather
 * than keeping insertion order in SQL, matches every chain already written live.
 */
export function byApprover(a: AcceptedApproval, b: AcceptedApproval): number {
  return compareCodePoints(a.approver, b.approver);
}

function compareCodePoints(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = (x[i]?.codePointAt(0) ?? 0) - (y[i]?.codePointAt(0) ?? 0);
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

export function nonceKey(kind: string, jti: string): string {
  return `${kind}:${jti}`;
}
