import type { ReasonCode } from "../errors.js";
import type { CompiledRequirement, CompiledWorkflow } from "./compile.js";
import type {
  AcceptedEvidence,
  AttestationClaims,
  AuthorizationDetail,
  Effect,
  Fresh,
  LedgerRequest,
  LedgerState,
  MintPlan,
  Outcome,
} from "./types.js";

/**
 * The enforcement plane's only decision function. Pure: the workflow version, a
 * snapshot of the ledger, the request and the time in; the decision and the
 * effects to persist out. No I/O, no clock, no randomness — the auditor replays
 * receipts through this very function and must get the same answers.
 *
 * @param now milliseconds since the epoch, read once by the caller.
 */
export function decide(workflow: CompiledWorkflow, state: LedgerState, request: LedgerRequest, now: number): Outcome {
  if (request.kind === "start") return decideStart(workflow, request.fresh, now);
  // Nothing that mutates a sequence gets past a seal; nothing unseals.
  if (state.status === "sealed") {
    return deny("SEALED_SEQUENCE", `sequence is sealed (${state.sealReason})`, { reason: state.sealReason });
  }
  switch (request.kind) {
    case "redeem":
      return decideRedeem(workflow, state, request, now);
    case "evidence":
      return decideEvidence(workflow, state, request, now);
    case "reissue":
      return decideReissue(workflow, state, request.fresh, now);
    case "revoke":
      return allow(`revoked by ${request.orchestrator}`, [{ type: "seal", reason: "revoked" }]);
  }
}

function decideStart(workflow: CompiledWorkflow, fresh: Fresh, now: number): Outcome {
  const mint = planCapability(workflow, 0, fresh, now, []);
  return allow(`sequence started at stage ${workflow.definition.stages[0]?.id}`, capabilityEffects(mint, false), mint);
}

function decideRedeem(
  workflow: CompiledWorkflow,
  state: LedgerState,
  request: Extract<LedgerRequest, { kind: "redeem" }>,
  now: number,
): Outcome {
  const token = request.token;
  const skew = workflow.definition.clock_skew_seconds;
  const nowSeconds = now / 1000;
  const stage = workflow.definition.stages[state.stage];
  if (!stage) return deny("SEQUENCE_VIOLATION", "sequence has no current stage");

  // Defence in depth: routing by the signed `seq` already picked this ledger.
  if (token.seq !== state.record.seq) return deny("TOKEN_INVALID", "capability belongs to another sequence");
  if (token.workflow !== workflow.hash) return deny("TOKEN_INVALID", "capability names another workflow version");
  // RFC 7519 §4.1.3: a tool must reject a token not addressed to it; the caller is the tool.
  if (!token.aud.includes(request.tool)) {
    return deny("AUDIENCE_MISMATCH", `capability is not addressed to tool ${request.tool}`, { aud: token.aud });
  }
  if (token.exp + skew <= nowSeconds) return deny("TOKEN_EXPIRED", "capability has expired", { exp: token.exp });
  if (token.nbf - skew > nowSeconds) return deny("TOKEN_INVALID", "capability is not valid yet", { nbf: token.nbf });
  if (token.stage !== stage.id) {
    return deny("SEQUENCE_VIOLATION", `capability is for stage ${token.stage}; the current stage is ${stage.id}`, {
      token_stage: token.stage,
      current_stage: stage.id,
    });
  }
  if (state.nonceUsed("capability", token.jti)) return deny("REPLAY_NONCE", "capability has no uses left");
  if (state.capability?.jti !== token.jti) {
    return deny("TOKEN_INVALID", "capability was superseded by a re-issued one");
  }

  const grants = workflow.grants[state.stage] ?? [];
  const matching = grants
    .map((compiled, index) => ({ compiled, index }))
    .filter(({ compiled }) => compiled.grant.audience === request.tool && compiled.grant.actions.includes(request.action));
  if (matching.length === 0) {
    return deny("SCOPE_EXCEEDED", `action ${request.action} is not granted to tool ${request.tool} in stage ${stage.id}`, {
      granted: grants.filter((g) => g.grant.audience === request.tool).flatMap((g) => g.grant.actions),
    });
  }
  const usable = matching.find(({ compiled, index }) => (state.uses[index] ?? 0) < compiled.grant.uses);
  if (!usable) {
    return deny("SCOPE_EXCEEDED", `grant for ${request.action} has no uses left in stage ${stage.id}`, {
      remaining_uses: 0,
    });
  }
  const where = usable.compiled.where;
  if (where) {
    const result = where.evaluate({ args: request.args, params: state.record.params });
    if (!result.ok) {
      return deny("CONDITION_FAILED", result.message, { condition: where.source, reason: result.reason });
    }
  }

  const effects: Effect[] = [{ type: "use", grant: usable.index }];
  const usesAfter = grants.map((_, i) => (state.uses[i] ?? 0) + (i === usable.index ? 1 : 0));
  const exhausted = grants.every((g, i) => (usesAfter[i] ?? 0) >= g.grant.uses);
  if (exhausted) {
    // The token's jti is spent for good only when no grant has a use left.
    effects.push({ type: "spend", kind: "capability", jti: token.jti });
    const last = state.stage === workflow.definition.stages.length - 1;
    if (last && workflow.definition.complete.on === "last_use") effects.push({ type: "seal", reason: "completed" });
  }
  return {
    ...allow(`${request.action} allowed for ${request.tool}`, effects),
    details: { grant: usable.index, uses_before: state.uses[usable.index] ?? 0, uses_after: usesAfter[usable.index] },
  };
}

function decideEvidence(
  workflow: CompiledWorkflow,
  state: LedgerState,
  request: Extract<LedgerRequest, { kind: "evidence" }>,
  now: number,
): Outcome {
  const check = request.attestation;
  if (!check.ok) return deny("EVIDENCE_INVALID", check.message);
  const claims = check.claims;
  const stage = workflow.definition.stages[state.stage];
  if (!stage) return deny("SEQUENCE_VIOLATION", "sequence has no current stage");
  if (claims.seq !== state.record.seq) return deny("EVIDENCE_INVALID", "attestation is bound to another sequence");
  if (state.nonceUsed("attestation", claims.jti)) return deny("REPLAY_NONCE", "attestation jti was already used");
  if (claims.stage !== stage.id) {
    return deny("SEQUENCE_VIOLATION", `attestation is for stage ${claims.stage}; the current stage is ${stage.id}`, {
      attestation_stage: claims.stage,
      current_stage: stage.id,
    });
  }
  const nextStage = state.stage + 1;
  const gate = workflow.gates[nextStage];
  if (!gate) return deny("SEQUENCE_VIOLATION", `no gate after stage ${stage.id} takes evidence`);

  const candidates = gate
    .map((compiled, index) => ({ compiled, index }))
    .filter(({ compiled }) => compiled.requirement.issuer === claims.iss && compiled.requirement.type === claims.type);
  if (candidates.length === 0) {
    return deny("EVIDENCE_INVALID", `the gate does not take ${claims.type} from ${claims.iss}`, {
      expected: gate.map(({ requirement }) => ({ issuer: requirement.issuer, type: requirement.type })),
    });
  }

  const skew = workflow.definition.clock_skew_seconds;
  const nowSeconds = now / 1000;
  let failure: Outcome | null = null;
  const satisfied = new Set(state.evidence.map((e) => e.requirement));
  // Prefer a requirement not yet met, so two attestations of one type can fill two slots.
  candidates.sort((a, b) => Number(satisfied.has(a.index)) - Number(satisfied.has(b.index)));
  for (const { compiled, index } of candidates) {
    const problem = evidenceProblem(compiled, claims, state.record.params, nowSeconds, skew);
    if (problem) {
      failure ??= problem;
      continue;
    }
    const accepted: AcceptedEvidence = { requirement: index, iss: claims.iss, type: claims.type, jti: claims.jti, digest: check.digest };
    const effects: Effect[] = [
      { type: "spend", kind: "attestation", jti: claims.jti },
      { type: "accept_evidence", evidence: accepted },
    ];
    satisfied.add(index);
    const evidence = [...state.evidence, accepted];
    if (gate.some((_, i) => !satisfied.has(i))) {
      return {
        ...allow(`${claims.type} accepted; gate still waits`, effects),
        details: { pending: gate.filter((_, i) => !satisfied.has(i)).map(({ requirement: r }) => ({ issuer: r.issuer, type: r.type })) },
      };
    }
    if (nextStage === workflow.definition.stages.length) {
      return allow(`${claims.type} accepted; sequence complete`, [...effects, { type: "seal", reason: "completed" }]);
    }
    const mint = planCapability(workflow, nextStage, request.fresh, now, evidence);
    return allow(
      `${claims.type} accepted; stage ${mint.stageId} opened`,
      [...effects, { type: "advance", stage: nextStage }, ...capabilityEffects(mint, false)],
      mint,
    );
  }
  return failure ?? deny("EVIDENCE_INVALID", "attestation matched no requirement");
}

function evidenceProblem(
  compiled: CompiledRequirement,
  claims: AttestationClaims,
  params: Record<string, unknown>,
  nowSeconds: number,
  skew: number,
): Outcome | null {
  const { requirement, where } = compiled;
  if (claims.iat - skew > nowSeconds) return deny("EVIDENCE_STALE", "attestation is issued in the future", { iat: claims.iat });
  if (nowSeconds - claims.iat > requirement.max_age_seconds + skew) {
    return deny("EVIDENCE_STALE", `attestation is older than ${requirement.max_age_seconds}s`, { iat: claims.iat });
  }
  if (claims.exp !== undefined && claims.exp + skew <= nowSeconds) {
    return deny("EVIDENCE_STALE", "attestation has expired", { exp: claims.exp });
  }
  if (where) {
    const result = where.evaluate({ attestation: claims, params });
    if (!result.ok) return deny("CONDITION_FAILED", result.message, { condition: where.source, reason: result.reason });
  }
  return null;
}

function decideReissue(workflow: CompiledWorkflow, state: LedgerState, fresh: Fresh, now: number): Outcome {
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
  const mint = planCapability(workflow, state.stage, fresh, now, []);
  return allow(`capability for stage ${stage.id} re-issued`, capabilityEffects(mint, true), mint);
}

function planCapability(
  workflow: CompiledWorkflow,
  stageIndex: number,
  fresh: Fresh,
  now: number,
  evidence: AcceptedEvidence[],
): MintPlan {
  const stage = workflow.definition.stages[stageIndex];
  if (!stage) throw new RangeError(`no stage ${stageIndex}`);
  const iat = Math.floor(now / 1000);
  const authorization_details: AuthorizationDetail[] = stage.grants.map((grant) => ({
    type: "baton_tool",
    tool: grant.audience,
    actions: grant.actions,
    ...(grant.where === undefined ? {} : { where: grant.where }),
    uses: grant.uses,
  }));
  return {
    stage: stageIndex,
    stageId: stage.id,
    jti: fresh.jti,
    iat,
    nbf: iat,
    exp: iat + stage.ttl_seconds,
    aud: [...new Set(stage.grants.map((grant) => grant.audience))],
    authorization_details,
    evidence,
  };
}

function capabilityEffects(mint: MintPlan, reissue: boolean): Effect[] {
  return [{ type: "capability", jti: mint.jti, exp: mint.exp, reissue }];
}

function allow(message: string, effects: Effect[], mint: MintPlan | null = null): Outcome {
  return { decision: "ALLOW", code: null, message, effects, mint };
}

function deny(code: ReasonCode, message: string, details?: unknown): Outcome {
  const outcome: Outcome = { decision: "DENY", code, message, effects: [], mint: null };
  if (details !== undefined) outcome.details = details;
  return outcome;
}
