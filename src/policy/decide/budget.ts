import type { CompiledGrant } from "../compile.js";
import type { Effect, LedgerState, Outcome } from "../types.js";
import type { DecisionContext } from "./context.js";
import { deny } from "./verdicts.js";

/** A grant of the current stage with its index, the form uses and totals are counted under. */
export interface IndexedGrant {
  compiled: CompiledGrant;
  index: number;
}

/** The token's jti is spent for good only when no grant has a use left; on the last stage that may complete the sequence. */
export function exhaustion(context: DecisionContext, usesAfter: readonly number[], jti: string): Effect[] {
  const { workflow, state } = context;
  const grants = workflow.grants[state.stage] ?? [];
  if (!grants.every((g, i) => (usesAfter[i] ?? 0) >= g.grant.uses)) return [];
  const effects: Effect[] = [{ type: "spend", kind: "capability", jti }];
  const last = state.stage === workflow.definition.stages.length - 1;
  if (last && workflow.definition.complete.on === "last_use") effects.push({ type: "seal", reason: "completed" });
  return effects;
}

export type Budget =
  | { ok: true; amount: null }
  | { ok: true; amount: number; counters: { sum_before: number; sum_after: number; sum_max: number } }
  | { ok: false; outcome: Outcome };

/** A grant's cumulative bound: this use's amount must fit in what is left of the budget. */
export function cumulativeAmount({ compiled, index }: IndexedGrant, state: LedgerState, args: Record<string, unknown>): Budget {
  const sum = compiled.grant.sum;
  if (!sum || !compiled.sumMax) return { ok: true, amount: null };
  const amount = args[sum.arg];
  if (typeof amount !== "number" || !Number.isFinite(amount) || amount < 0) {
    return {
      ok: false,
      outcome: deny("CONDITION_FAILED", `argument ${sum.arg} must be a non-negative number (it counts towards a limit)`, {
        arg: sum.arg,
      }),
    };
  }
  const max = compiled.sumMax.evaluate({ params: state.record.params });
  if (!max.ok) return { ok: false, outcome: deny("CONDITION_FAILED", max.message, { limit: compiled.sumMax.source, reason: "error" }) };
  const before = state.totals[index] ?? 0;
  if (before + amount > max.value) {
    return {
      ok: false,
      outcome: deny("SCOPE_EXCEEDED", `${sum.arg} ${amount} exceeds what is left of the limit (${max.value - before} of ${max.value})`, {
        arg: sum.arg,
        requested: amount,
        remaining: max.value - before,
        sum_before: before,
        sum_max: max.value,
      }),
    };
  }
  return { ok: true, amount, counters: { sum_before: before, sum_after: before + amount, sum_max: max.value } };
}
