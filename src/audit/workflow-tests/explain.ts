import type { CompiledWorkflow } from "../../policy/compile.js";
import type { LedgerRequest, LedgerState, Outcome } from "../../policy/types.js";

/**
 * The condition or rule behind a decision, as a workflow author reads it: the CEL
 * condition or limit a refusal names, or — for an allowed action or accepted evidence —
 * the grant or gate requirement that let it through. Undefined when the decision rests on
 * a check with no rule of the workflow behind it (a replayed nonce, an expired token): its
 * message says which.
 */
export function decidingRule(workflow: CompiledWorkflow, state: LedgerState, request: LedgerRequest, outcome: Outcome): string | undefined {
  const details = (typeof outcome.details === "object" && outcome.details !== null ? outcome.details : {}) as Record<string, unknown>;
  if (typeof details.condition === "string") return details.condition;
  if (typeof details.limit === "string") return `limit ${details.limit}`;
  const stage = workflow.definition.stages[state.stage];
  const grants = workflow.grants[state.stage] ?? [];
  if (outcome.code === "SCOPE_EXCEEDED" && typeof details.arg === "string") {
    const sum = grants.find((g) => g.grant.sum?.arg === details.arg)?.grant.sum;
    if (sum) return `sum of args.${sum.arg} <= ${sum.max}`;
  }
  if (outcome.decision !== "ALLOW" || !stage) return undefined;
  if (request.kind === "redeem" && typeof details.grant === "number") {
    const grant = grants[details.grant]?.grant;
    if (!grant) return undefined;
    const rules = [grant.where, grant.sum && `sum of args.${grant.sum.arg} <= ${grant.sum.max}`].filter(Boolean).join("; ");
    return `grant ${details.grant} of stage ${stage.id} (${grant.audience}: ${grant.actions.join(", ")})${rules ? `: ${rules}` : ", no condition"}`;
  }
  const accepted = outcome.effects.find((e) => e.type === "accept_evidence");
  if (accepted?.type === "accept_evidence") {
    const requirement = workflow.gates[state.stage + 1]?.attestations[accepted.evidence.requirement]?.requirement;
    if (!requirement) return undefined;
    return `requirement ${accepted.evidence.requirement} of the gate after ${stage.id} (${requirement.issuer}: ${requirement.type})${requirement.where ? `: ${requirement.where}` : ""}`;
  }
  return undefined;
}
