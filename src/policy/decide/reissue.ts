import type { CompiledWorkflow } from "../compile.js";
import type { Fresh, LedgerState, Outcome } from "../types.js";
import { capabilityEffects, planCapability } from "./mint.js";
import { allow, deny } from "./verdicts.js";

export function decideReissue(workflow: CompiledWorkflow, state: LedgerState, fresh: Fresh, now: number): Outcome {
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
  const mint = planCapability(workflow, state, state.stage, fresh, now, []);
  return allow(`capability for stage ${stage.id} re-issued`, capabilityEffects(mint, true), mint);
}
