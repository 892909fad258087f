import type { AuthorizationDetail, Effect, EvidenceItem, Fresh, MintPlan } from "../types.js";
import type { DecisionContext } from "./context.js";

/** The capability of stage `stageIndex` as the shell is to sign it, naming the evidence that opened the stage. */
export function planCapability(context: DecisionContext, stageIndex: number, fresh: Fresh, evidence: EvidenceItem[]): MintPlan {
  const { workflow, state, now } = context;
  const stage = workflow.definition.stages[stageIndex];
  if (!stage) throw new RangeError(`no stage ${stageIndex}`);
  const iat = Math.floor(now / 1000);
  const authorization_details: AuthorizationDetail[] = stage.grants.map((grant) => ({
    type: "baton_tool",
    tool: grant.audience,
    actions: grant.actions,
    ...(grant.where === undefined ? {} : { where: grant.where }),
    uses: grant.uses,
    ...(grant.sum === undefined ? {} : { sum: grant.sum }),
  }));
  const aud = [...new Set(stage.grants.map((grant) => grant.audience))];
  // What the other stages grant this token's tools, so a verifier can tell a skipped
  // stage (SEQUENCE_VIOLATION) from an action no stage grants (SCOPE_EXCEEDED) offline.
  const other_stages = workflow.definition.stages.flatMap((other) =>
    other.id === stage.id
      ? []
      : other.grants.filter((grant) => aud.includes(grant.audience)).map((grant) => ({ stage: other.id, tool: grant.audience, actions: grant.actions })),
  );
  return {
    stage: stageIndex,
    stageId: stage.id,
    jti: fresh.jti,
    iat,
    nbf: iat,
    // A delegated sequence's capabilities die with the capability that delegated them.
    exp: Math.min(iat + stage.ttl_seconds, state.record.delegation?.until ?? Number.POSITIVE_INFINITY),
    aud,
    authorization_details,
    ...(other_stages.length > 0 ? { other_stages } : {}),
    evidence,
    ...(state.record.actorJkt ? { cnf: { jkt: state.record.actorJkt } } : {}),
  };
}

export function capabilityEffects(mint: MintPlan, reissue: boolean): Effect[] {
  return [{ type: "capability", jti: mint.jti, exp: mint.exp, reissue }];
}
