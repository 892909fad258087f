import type { ReasonCode } from "../errors.js";
import { DPOP_PROOF_MAX_AGE_SECONDS } from "../limits.js";
import { actDepth } from "../tokens/capability.js";
import { dpopProblem } from "../tokens/dpop.js";
import type { CompiledGate, CompiledRequirement, CompiledWorkflow } from "./compile.js";
import { type ReportedRefusal, stageSkipped } from "./offline-refusals.js";
import { BATON_AUDIENCE, DELEGATE_ACTION, type SignalInputs } from "./workflow-schema.js";
import type {
  AcceptedApproval,
  AcceptedEvidence,
  AttestationClaims,
  AuthorizationDetail,
  ConsultedSignal,
  DelegatedGrant,
  Effect,
  EvidenceItem,
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
  if (request.kind === "start") return decideStart(workflow, state, request.fresh, now);
  // Nothing that mutates a sequence gets past a seal; nothing unseals.
  if (state.status === "sealed") {
    return deny("SEALED_SEQUENCE", `sequence is sealed (${state.sealReason})`, { reason: state.sealReason });
  }
  switch (request.kind) {
    case "redeem":
      return request.refused ? decideReportedRefusal(workflow, state, request, request.refused, now) : decideRedeem(workflow, state, request, now);
    case "evidence":
      return decideEvidence(workflow, state, request, now);
    case "approval":
      return decideApproval(workflow, state, request, now);
    case "delegate":
      return decideDelegate(workflow, state, request, now);
    case "outcome":
      return decideOutcome(workflow, state, request, now);
    case "reissue":
      return decideReissue(workflow, state, request.fresh, now);
    case "revoke":
      return allow(`revoked by ${request.orchestrator}`, [{ type: "seal", reason: "revoked" }]);
  }
}

function decideStart(workflow: CompiledWorkflow, state: LedgerState, fresh: Fresh, now: number): Outcome {
  const mint = planCapability(workflow, state, 0, fresh, now, []);
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
  const unbound = senderProblem(workflow, state, request, nowSeconds);
  if (unbound) return unbound;
  if (token.exp + skew <= nowSeconds) return deny("TOKEN_EXPIRED", "capability has expired", { exp: token.exp });
  if (token.nbf - skew > nowSeconds) return deny("TOKEN_INVALID", "capability is not valid yet", { nbf: token.nbf });
  // Baton mints iat = nbf = now; a capability issued later than now is not one of its own.
  if (token.iat - skew > nowSeconds) return deny("TOKEN_INVALID", "capability is issued in the future", { iat: token.iat });
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
    // Granted to this tool by another stage: the step-order attack itself (too early, or
    // that stage is closed), not a request for more than the workflow ever grants.
    const grantedIn = stagesGranting(workflow, request.tool, request.action).filter((id) => id !== stage.id);
    if (grantedIn.length > 0) {
      const { code, message, details } = stageSkipped(request.action, request.tool, grantedIn, stage.id);
      return deny(code, message, details);
    }
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
  const signalled = signalProblem(usable.compiled.grant.signals, request.signals, nowSeconds);
  if (signalled) return signalled;
  const budget = cumulativeAmount(usable.compiled, usable.index, state, request.args);
  if (!budget.ok) return budget.outcome;

  const effects: Effect[] = [
    budget.amount === null ? { type: "use", grant: usable.index } : { type: "use", grant: usable.index, amount: budget.amount },
  ];
  if (request.dpop?.proof.ok) effects.push({ type: "spend", kind: "dpop", jti: request.dpop.proof.claims.jti });
  const usesAfter = grants.map((_, i) => (state.uses[i] ?? 0) + (i === usable.index ? 1 : 0));
  effects.push(...exhaustion(workflow, state, usesAfter, token.jti));
  // The receipt records every counter of the grant before and after this use.
  const before = state.uses[usable.index] ?? 0;
  const details: Record<string, unknown> = { grant: usable.index, uses_before: before, uses_after: before + 1 };
  if (budget.amount !== null) Object.assign(details, budget.counters);
  // What the analysis plane reads: the labels of the resource and whether it was written.
  const { labels, effect } = usable.compiled.grant;
  if (labels) details.labels = labels;
  if (effect) details.effect = effect;
  return { ...allow(`${request.action} allowed for ${request.tool}`, effects), details };
}

/**
 * A tool server refused a genuine capability offline and reports it, so the attempt
 * is receipted like one the gate refused. It is a DENY with the tool's code whatever
 * the gate would have said — never an ALLOW, and nothing is spent — and the receipt
 * records, next to it, what the gate's own checks give (`gate`: a code, or ALLOW when
 * the tool and the gate disagree, e.g. their clocks).
 */
function decideReportedRefusal(
  workflow: CompiledWorkflow,
  state: LedgerState,
  request: Extract<LedgerRequest, { kind: "redeem" }>,
  refused: ReportedRefusal,
  now: number,
): Outcome {
  const { refused: _report, ...presented } = request;
  const own = decideRedeem(workflow, state, presented, now);
  const gate = own.decision === "DENY" ? own.code : own.decision;
  const agreed = own.code === refused.code;
  const ownDetails = agreed && typeof own.details === "object" && own.details !== null ? own.details : {};
  return deny(refused.code, agreed ? own.message : `refused by tool ${request.tool}: ${refused.message}`, {
    ...ownDetails,
    reported_by: request.tool,
    gate,
  });
}

/** The ids of the stages whose grants give `action` to `tool`, in workflow order. */
function stagesGranting(workflow: CompiledWorkflow, tool: string, action: string): string[] {
  return workflow.definition.stages
    .filter((stage) => stage.grants.some((grant) => grant.audience === tool && grant.actions.includes(action)))
    .map((stage) => stage.id);
}

/** The token's jti is spent for good only when no grant has a use left; on the last stage that may complete the sequence. */
function exhaustion(workflow: CompiledWorkflow, state: LedgerState, usesAfter: readonly number[], jti: string): Effect[] {
  const grants = workflow.grants[state.stage] ?? [];
  if (!grants.every((g, i) => (usesAfter[i] ?? 0) >= g.grant.uses)) return [];
  const effects: Effect[] = [{ type: "spend", kind: "capability", jti }];
  const last = state.stage === workflow.definition.stages.length - 1;
  if (last && workflow.definition.complete.on === "last_use") effects.push({ type: "seal", reason: "completed" });
  return effects;
}

/**
 * An agent starts a sequence for a sub-agent (RFC 8693): its capability is
 * presented to Baton itself for the `delegate` action, like a redeem, and the
 * sub-agent's grants must fit inside what is left of this stage. The uses handed
 * down are reserved here, so the two agents together never exceed the stage's
 * grants; conditions are kept (the child's `where` is added to, never replaces,
 * the parent's). Grants with a cumulative sum are not delegable: the child's
 * spending would escape this ledger's budget.
 */
function decideDelegate(
  workflow: CompiledWorkflow,
  state: LedgerState,
  request: Extract<LedgerRequest, { kind: "delegate" }>,
  now: number,
): Outcome {
  const { token } = request;
  const asRedeem = {
    kind: "redeem",
    tool: BATON_AUDIENCE,
    action: DELEGATE_ACTION,
    args: {},
    token,
    tokenDigest: request.tokenDigest,
    dpop: request.dpop,
  } as const;
  const presented = decideRedeem(workflow, state, asRedeem, now);
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
    ...exhaustion(workflow, state, usesAfter, token.jti),
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

/**
 * RFC 9449 at the gate: a capability bound to a key (`cnf.jkt`) is honoured only
 * with a fresh, one-time proof of that key for this very request and token.
 */
function senderProblem(
  workflow: CompiledWorkflow,
  state: LedgerState,
  request: Extract<LedgerRequest, { kind: "redeem" | "delegate" }>,
  nowSeconds: number,
): Outcome | null {
  const bound = request.token.cnf?.jkt;
  if (!bound) {
    // A sender-constrained workflow never minted an unbound token; refuse one anyway.
    return workflow.definition.sender_constrained ? deny("TOKEN_INVALID", "capability is not bound to a key") : null;
  }
  if (bound !== state.record.actorJkt) return deny("TOKEN_INVALID", "capability is bound to another key than the actor's");
  const dpop = request.dpop;
  if (!dpop) return deny("TOKEN_INVALID", "capability is sender-constrained: a DPoP proof is required");
  if (!dpop.proof.ok) return deny("TOKEN_INVALID", `DPoP proof rejected: ${dpop.proof.message}`);
  const problem = dpopProblem(
    dpop.proof,
    { jkt: bound, htm: dpop.htm, htu: dpop.htu, ath: request.tokenDigest },
    nowSeconds,
    workflow.definition.clock_skew_seconds,
    DPOP_PROOF_MAX_AGE_SECONDS,
  );
  if (problem) return deny("TOKEN_INVALID", `DPoP proof rejected: ${problem}`);
  if (state.nonceUsed("dpop", dpop.proof.claims.jti)) return deny("REPLAY_NONCE", "DPoP proof jti was already used");
  return null;
}

type Budget =
  | { ok: true; amount: null }
  | { ok: true; amount: number; counters: { sum_before: number; sum_after: number; sum_max: number } }
  | { ok: false; outcome: Outcome };

/** A grant's cumulative bound: this use's amount must fit in what is left of the budget. */
function cumulativeAmount(
  compiled: CompiledWorkflow["grants"][number][number],
  index: number,
  state: LedgerState,
  args: Record<string, unknown>,
): Budget {
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

function decideEvidence(
  workflow: CompiledWorkflow,
  state: LedgerState,
  request: Extract<LedgerRequest, { kind: "evidence" }>,
  now: number,
): Outcome {
  const check = request.attestation;
  if (!check.ok) return deny("EVIDENCE_INVALID", check.message);
  const claims = check.claims;
  const pending = pendingGate(workflow, state, "attestation", claims);
  if ("outcome" in pending) return pending.outcome;
  const { gate } = pending;

  const candidates = gate.attestations
    .map((compiled, index) => ({ compiled, index }))
    .filter(({ compiled }) => compiled.requirement.issuer === claims.iss && compiled.requirement.type === claims.type);
  if (candidates.length === 0) {
    return deny("EVIDENCE_INVALID", `the gate does not take ${claims.type} from ${claims.iss}`, {
      expected: gate.attestations.map(({ requirement }) => ({ issuer: requirement.issuer, type: requirement.type })),
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
    return gateOutcome(workflow, { ...state, evidence: [...state.evidence, accepted] }, gate, effects, request.fresh, now, `${claims.type} accepted`, request.signals);
  }
  return failure ?? deny("EVIDENCE_INVALID", "attestation matched no requirement");
}

function decideApproval(
  workflow: CompiledWorkflow,
  state: LedgerState,
  request: Extract<LedgerRequest, { kind: "approval" }>,
  now: number,
): Outcome {
  const check = request.approval;
  if (!check.ok) return deny("EVIDENCE_INVALID", check.message);
  const { claims, approver } = check;
  const pending = pendingGate(workflow, state, "approval", claims);
  if ("outcome" in pending) return pending.outcome;
  const { gate } = pending;
  const required = gate.approvals;
  if (!required) return deny("EVIDENCE_INVALID", "the pending gate takes no approvals");

  // Who may approve: a member of the group, and (by default) neither the subject nor the orchestrator.
  if (!approver.groups.includes(required.group)) {
    return deny("EVIDENCE_INVALID", `approver ${approver.id} is not in group ${required.group}`, { group: required.group });
  }
  const record = state.record;
  if (required.exclude_subject && (approver.id === record.subject || approver.subject === record.subject)) {
    return deny("EVIDENCE_INVALID", `separation of duties: ${approver.id} is the subject of this sequence`);
  }
  if (required.exclude_orchestrator && approver.id === record.orchestrator) {
    return deny("EVIDENCE_INVALID", `separation of duties: ${approver.id} started this sequence`);
  }

  const skew = workflow.definition.clock_skew_seconds;
  const nowSeconds = now / 1000;
  if (claims.iat - skew > nowSeconds) return deny("EVIDENCE_STALE", "approval is issued in the future", { iat: claims.iat });
  const expiresAt = Math.min(claims.exp ?? Number.POSITIVE_INFINITY, claims.iat + required.max_age_seconds);
  if (expiresAt + skew <= nowSeconds) return deny("EVIDENCE_STALE", "approval has expired", { expires_at: expiresAt });

  // Approvals are of the gate's evidence: they come once every attestation and outcome is in.
  const missing = missingEvidence(gate, state);
  if (missing.length > 0) {
    return deny("SEQUENCE_VIOLATION", "the gate still waits for evidence; approvals come after it", { pending: missing });
  }
  if (claims.digest !== state.approvalDigest) {
    return deny("EVIDENCE_INVALID", "approval is for something else: its digest does not match this gate", {
      expected: state.approvalDigest,
    });
  }

  if (claims.decision === "reject") {
    // The one denial that changes state: silence is never consent, and a "no" is final for this sequence.
    const rejection = { approver: approver.id, jti: claims.jti, at: claims.iat, ...(claims.comment ? { comment: claims.comment } : {}) };
    return {
      ...deny("APPROVAL_DENIED", `${approver.id} rejected; the gate stays shut`, { rejected_by: approver.id }),
      effects: [
        { type: "spend", kind: "approval", jti: claims.jti },
        { type: "reject_gate", rejection },
      ],
    };
  }
  if (countingApprovals(state.approvals, nowSeconds, skew).some((a) => a.approver === approver.id)) {
    return escalate(`${approver.id} already approved; an approver counts once`, approvalsPending(gate, state.approvals, nowSeconds, skew));
  }
  const accepted: AcceptedApproval = { approver: approver.id, jti: claims.jti, digest: check.digest, iat: claims.iat, expires_at: expiresAt };
  const effects: Effect[] = [
    { type: "spend", kind: "approval", jti: claims.jti },
    { type: "accept_approval", approval: accepted },
  ];
  const approvals = [...state.approvals.filter((a) => a.approver !== approver.id), accepted];
  return gateOutcome(workflow, { ...state, approvals }, gate, effects, request.fresh, now, `approval by ${approver.id} accepted`, request.signals);
}

/**
 * A tool reports what happened after an allowed action. Always recorded (a failure
 * is worth a receipt too), once per redeem receipt; a success of an action the
 * pending gate asks for counts towards it, and may open the next stage.
 */
function decideOutcome(
  workflow: CompiledWorkflow,
  state: LedgerState,
  request: Extract<LedgerRequest, { kind: "outcome" }>,
  now: number,
): Outcome {
  const { redeemed, tool, outcome } = request;
  if (state.nonceUsed("outcome", redeemed.hash)) return deny("REPLAY_NONCE", "the outcome of this receipt was already reported");
  const effects: Effect[] = [{ type: "spend", kind: "outcome", jti: redeemed.hash }];
  const what = `${tool} reports ${redeemed.action} ${outcome}`;
  const stage = workflow.definition.stages[state.stage];
  const gate = workflow.gates[state.stage + 1];
  const index =
    outcome === "succeeded" && stage?.id === redeemed.stage && gate && !state.rejection
      ? gate.outcomes.findIndex((o, i) => o.tool === tool && o.action === redeemed.action && !state.outcomes.some((a) => a.requirement === i))
      : -1;
  if (!gate || index < 0) return allow(`${what}; recorded`, effects);
  const accepted = { requirement: index, tool, action: redeemed.action, receipt: redeemed.hash };
  effects.push({ type: "accept_outcome", outcome: accepted });
  return gateOutcome(workflow, { ...state, outcomes: [...state.outcomes, accepted] }, gate, effects, request.fresh, now, what, request.signals);
}

/**
 * The gate after `state`'s evidence (which already includes this request's):
 * still waiting on attestations (ALLOW, nothing opens), waiting only on approvals
 * (ESCALATE), or satisfied — then the next stage opens, or the sequence seals.
 */
function gateOutcome(
  workflow: CompiledWorkflow,
  state: LedgerState,
  gate: CompiledGate,
  effects: Effect[],
  fresh: Fresh,
  now: number,
  what: string,
  signals: readonly ConsultedSignal[] | undefined,
): Outcome {
  const missing = missingEvidence(gate, state);
  if (missing.length > 0) return { ...allow(`${what}; gate still waits`, effects), details: { pending: missing } };
  const skew = workflow.definition.clock_skew_seconds;
  const nowSeconds = now / 1000;
  const approvals = gate.approvals ? countingApprovals(state.approvals, nowSeconds, skew) : [];
  if (gate.approvals && approvals.length < gate.approvals.count) {
    return { ...escalate(`${what}; the gate waits for approvals`, approvalsPending(gate, state.approvals, nowSeconds, skew)), effects };
  }
  const signalled = signalProblem(gate.signals ?? undefined, signals, nowSeconds);
  if (signalled) return signalled;
  const nextStage = state.stage + 1;
  if (nextStage === workflow.definition.stages.length) {
    return allow(`${what}; sequence complete`, [...effects, { type: "seal", reason: "completed" }]);
  }
  const evidence: EvidenceItem[] = [
    ...evidenceItems(state),
    ...approvals.map(({ approver, jti, digest }) => ({ iss: approver, type: "approval", jti, digest })),
  ];
  const mint = planCapability(workflow, state, nextStage, fresh, now, evidence);
  return allow(
    `${what}; stage ${mint.stageId} opened`,
    [...effects, { type: "advance", stage: nextStage }, ...capabilityEffects(mint, false)],
    mint,
  );
}

/**
 * The gate that evidence for the current stage goes to, or why it may not:
 * another sequence, a spent jti, another stage, no gate, a rejected gate.
 * An attestation for another stage is out of order (SEQUENCE_VIOLATION); an
 * approval names the gate it approves, so for another stage it is simply not
 * evidence for this one (EVIDENCE_INVALID).
 */
function pendingGate(
  workflow: CompiledWorkflow,
  state: LedgerState,
  kind: "attestation" | "approval",
  claims: { seq: string; stage: string; jti: string },
): { gate: CompiledGate } | { outcome: Outcome } {
  const stage = workflow.definition.stages[state.stage];
  if (!stage) return { outcome: deny("SEQUENCE_VIOLATION", "sequence has no current stage") };
  if (claims.seq !== state.record.seq) return { outcome: deny("EVIDENCE_INVALID", `${kind} is bound to another sequence`) };
  if (state.nonceUsed(kind, claims.jti)) return { outcome: deny("REPLAY_NONCE", `${kind} jti was already used`) };
  if (claims.stage !== stage.id) {
    const message = `${kind} is for stage ${claims.stage}; the current stage is ${stage.id}`;
    const details = { [`${kind}_stage`]: claims.stage, current_stage: stage.id };
    return { outcome: deny(kind === "approval" ? "EVIDENCE_INVALID" : "SEQUENCE_VIOLATION", message, details) };
  }
  const gate = workflow.gates[state.stage + 1];
  if (!gate) return { outcome: deny("SEQUENCE_VIOLATION", `no gate after stage ${stage.id} takes evidence`) };
  if (state.rejection) {
    return {
      outcome: deny("APPROVAL_DENIED", `${state.rejection.approver} rejected this gate; start a new sequence`, {
        rejected_by: state.rejection.approver,
      }),
    };
  }
  return { gate };
}

/**
 * The analysis plane's say, only where the workflow declared it: an active
 * signal of a `block` detector denies; a `require` detector without one denies.
 * The signals are the ones the ledger fetched and recorded for this decision.
 */
function signalProblem(inputs: SignalInputs | undefined, signals: readonly ConsultedSignal[] | undefined, nowSeconds: number): Outcome | null {
  if (!inputs) return null;
  const active = (signals ?? []).filter((s) => s.expires_at > nowSeconds);
  const blocking = active.filter((s) => inputs.block.includes(s.detector));
  if (blocking.length > 0) {
    return deny("SIGNAL_BLOCKED", `blocked by signal ${blocking.map((s) => `${s.detector} v${s.version}`).join(", ")}`, {
      signals: blocking.map((s) => s.id),
    });
  }
  const missing = inputs.require.filter((detector) => !active.some((s) => s.detector === detector));
  if (missing.length > 0) return deny("SIGNAL_REQUIRED", `requires an active signal of ${missing.join(", ")}`, { missing });
  return null;
}

/** What the gate's machine evidence still lacks: attestations, then tools' successful outcomes. */
function missingEvidence(gate: CompiledGate, state: Pick<LedgerState, "evidence" | "outcomes">) {
  const satisfied = new Set(state.evidence.map((e) => e.requirement));
  const reported = new Set(state.outcomes.map((o) => o.requirement));
  return [
    ...gate.attestations.filter((_, i) => !satisfied.has(i)).map(({ requirement: r }) => ({ issuer: r.issuer, type: r.type })),
    ...gate.outcomes.filter((_, i) => !reported.has(i)).map((o) => ({ tool: o.tool, outcome: `${o.action} succeeded` })),
  ];
}

/** The evidence items a capability names, in a fixed order: attestations, outcomes, then approvals. */
export function evidenceItems(state: Pick<LedgerState, "evidence" | "outcomes">): EvidenceItem[] {
  return [
    ...state.evidence.map(({ iss, type, jti, digest }) => ({ iss, type, jti, digest })),
    ...state.outcomes.map(({ tool, action, receipt }) => ({ iss: tool, type: `outcome:${action}`, jti: receipt, digest: receipt })),
  ];
}

/** Approvals still in force at `now`: an expired approval no longer counts. */
function countingApprovals(approvals: readonly AcceptedApproval[], nowSeconds: number, skew: number): AcceptedApproval[] {
  return approvals.filter((a) => a.expires_at + skew > nowSeconds);
}

/** What an ESCALATE tells the caller: which group, how many more, who already approved, until when. */
function approvalsPending(gate: CompiledGate, approvals: readonly AcceptedApproval[], nowSeconds: number, skew: number) {
  const required = gate.approvals;
  if (!required) return undefined;
  const counting = countingApprovals(approvals, nowSeconds, skew);
  return {
    group: required.group,
    required: required.count,
    remaining: Math.max(0, required.count - counting.length),
    approved_by: counting.map((a) => ({ approver: a.approver, at: a.iat, expires_at: a.expires_at })),
    until: counting.length > 0 ? Math.min(...counting.map((a) => a.expires_at)) : null,
  };
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
  const mint = planCapability(workflow, state, state.stage, fresh, now, []);
  return allow(`capability for stage ${stage.id} re-issued`, capabilityEffects(mint, true), mint);
}

function planCapability(
  workflow: CompiledWorkflow,
  state: LedgerState,
  stageIndex: number,
  fresh: Fresh,
  now: number,
  evidence: EvidenceItem[],
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

function capabilityEffects(mint: MintPlan, reissue: boolean): Effect[] {
  return [{ type: "capability", jti: mint.jti, exp: mint.exp, reissue }];
}

function allow(message: string, effects: Effect[], mint: MintPlan | null = null): Outcome {
  return { decision: "ALLOW", code: null, message, effects, mint };
}

function escalate(message: string, details: unknown): Outcome {
  return { decision: "ESCALATE", code: "APPROVAL_REQUIRED", message, details, effects: [], mint: null };
}

function deny(code: ReasonCode, message: string, details?: unknown): Outcome {
  const outcome: Outcome = { decision: "DENY", code, message, effects: [], mint: null };
  if (details !== undefined) outcome.details = details;
  return outcome;
}
