import { actDepth } from "../../tokens/capability.js";
import type { DelegatedGrant, Effect, Outcome } from "../types.js";
import { BATON_AUDIENCE, DELEGATE_ACTION } from "../workflow-schema.js";
import { exhaustion } from "./budget.js";
import type { DecisionContext, RequestOf } from "./context.js";
import { decideRedeem } from "./redeem.js";
import { allow, deny } from "./verdicts.js";

/**
 * An agent starts a sequence for a sub-agent (RFC 8693): its capability is
 * presented to Baton itself for the `delegate` action, like a redeem, and the
 * sub-agent's grants must fit inside what is left of this stage. The uses handed
 * down are reserved here, so the two agents together never exceed the stage's
 * grants; conditions are kept (the child's `where` is added to, never replaces,
 * the parent's). Grants with a cumulative sum are not delegable: the child's
 * spending would escape this ledger's budget.
 */
export function decideDelegate(context: DecisionContext, request: RequestOf<"delegate">): Outcome {
  const { workflow, state } = context;
  const { token } = request;
  const asRedeem = {
    kind: "redeem",
    tool: BATON_AUDIENCE,
    action: DELEGATE_ACTION,
    args: {},
    token,
    tokenDigest: request.tokenDigest,
    dpop: request.dpop,
    lineage: request.lineage,
  } as const;
  const presented = decideRedeem(context, asRedeem);
  if (presented.decision !== "ALLOW") return presented;

  const depth = actDepth(token.act) + 1;
  if (depth > workflow.definition.max_delegation_depth) {
    return deny("SCOPE_EXCEEDED", `delegation would nest act ${depth} deep; this workflow allows ${workflow.definition.max_delegation_depth}`, {
      depth,
      max_depth: workflow.definition.max_delegation_depth,
    });
  }

  const grants = workflow.grants[state.stage] ?? [];
  const usesAfter = grants.map((_, i) => state.uses[i] ?? 0);
  const use = presented.effects.find((e) => e.type === "use");
  if (use?.type === "use") usesAfter[use.grant] = (usesAfter[use.grant] ?? 0) + 1;
  const reserved: Effect[] = [];
  const granted: DelegatedGrant[] = [];
  for (const [i, child] of request.grants.entries()) {
    const covering = grants
      .map((compiled, index) => ({ compiled, index }))
      .find(
        ({ compiled, index }) =>
          compiled.grant.audience === child.audience &&
          child.actions.every((action) => compiled.grant.actions.includes(action)) &&
          compiled.grant.uses - (usesAfter[index] ?? 0) >= child.uses,
      );
    if (!covering) {
      return deny("SCOPE_EXCEEDED", `delegated grant ${i} (${child.audience}: ${child.actions.join(", ")} × ${child.uses}) is wider than what is left of stage ${token.stage}`, {
        grant: i,
      });
    }
    if (covering.compiled.grant.sum) {
      return deny("SCOPE_EXCEEDED", `delegated grant ${i} covers a grant with a cumulative limit, which cannot be delegated`, { grant: i });
    }
    usesAfter[covering.index] = (usesAfter[covering.index] ?? 0) + child.uses;
    reserved.push({ type: "use", grant: covering.index, count: child.uses });
    const conditions = [covering.compiled.grant.where, child.where].filter((w): w is string => w !== undefined);
    granted.push({
      audience: child.audience,
      actions: child.actions,
      uses: child.uses,
      ...(conditions.length > 0 ? { where: conditions.map((w) => `(${w})`).join(" && ") } : {}),
    });
  }
  const effects: Effect[] = [
    ...presented.effects.filter((e) => e.type === "use" || (e.type === "spend" && e.kind === "dpop")),
    ...reserved,
    ...exhaustion(context, usesAfter, token.jti),
  ];
  const act = { sub: request.actor, act: token.act };
  const { definition } = workflow;
  const record = state.record;
  return {
    ...allow(`stage ${token.stage} delegated to ${request.actor}`, effects),
    // Everything the shell needs to start the child sequence, receipted here.
    details: {
      delegation: {
        actor: request.actor,
        act,
        depth,
        grants: granted,
        stage: token.stage,
        until: token.exp,
        parent: {
          workflow: workflow.id,
          subject: record.subject,
          orchestrator: record.orchestrator,
          params: record.params,
          clock_skew_seconds: definition.clock_skew_seconds,
          max_delegation_depth: definition.max_delegation_depth,
          sender_constrained: definition.sender_constrained,
        },
      },
    },
  };
}
