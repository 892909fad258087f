import type { Fresh, Outcome } from "../types.js";
import type { DecisionContext } from "./context.js";
import { capabilityEffects, planCapability } from "./mint.js";
import { allow, deny } from "./verdicts.js";

/** A fresh capability for the current stage, while it has uses left and re-issues to spare. */
export function decideReissue(context: DecisionContext, fresh: Fresh): Outcome {
  const { workflow, state } = context;
  const stage = workflow.definition.stages[state.stage];
  if (!stage) return deny("SEQUENCE_VIOLATION", "sequence has no current stage");
  const grants = workflow.grants[state.stage] ?? [];
  if (grants.every((g, i) => (state.uses[i] ?? 0) >= g.grant.uses)) {
    return deny("SCOPE_EXCEEDED", `stage ${stage.id} has no uses left`, { remaining_uses: 0 });
  }
  const reissues = state.capability?.reissues ?? 0;
  if (reissues >= stage.max_reissues) {
    return deny("SCOPE_EXCEEDED", `stage ${stage.id} reached its re-issue limit (${stage.max_reissues})`, {
      max_reissues: stage.max_reissues,
    });
  }
  const mint = planCapability(context, state.stage, fresh, []);
  return allow(`capability for stage ${stage.id} re-issued`, capabilityEffects(mint, true), mint);
}
