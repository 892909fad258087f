import type { Fresh, Outcome } from "../types.js";
import type { DecisionContext } from "./context.js";
import { capabilityEffects, planCapability } from "./mint.js";
import { allow } from "./verdicts.js";

/** A new sequence: the first stage's capability, with no evidence yet. */
export function decideStart(context: DecisionContext, fresh: Fresh): Outcome {
  const mint = planCapability(context, 0, fresh, []);
  return allow(`sequence started at stage ${context.workflow.definition.stages[0]?.id}`, capabilityEffects(mint, false), mint);
}
