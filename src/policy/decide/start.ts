import type { CompiledWorkflow } from "../compile.js";
import type { Fresh, LedgerState, Outcome } from "../types.js";
import { capabilityEffects, planCapability } from "./mint.js";
import { allow } from "./verdicts.js";

export function decideStart(workflow: CompiledWorkflow, state: LedgerState, fresh: Fresh, now: number): Outcome {
  const mint = planCapability(workflow, state, 0, fresh, now, []);
  return allow(`sequence started at stage ${workflow.definition.stages[0]?.id}`, capabilityEffects(mint, false), mint);
}
