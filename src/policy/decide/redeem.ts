import { DPOP_PROOF_MAX_AGE_SECONDS } from "../../limits.js";
import type { CompiledWorkflow } from "../compile.js";
import { dpopProblem } from "../../tokens/dpop.js";
import { type ReportedRefusal, stageSkipped } from "../offline-refusals.js";
import type { Effect, Outcome } from "../types.js";
import { cumulativeAmount, exhaustion } from "./budget.js";
import type { DecisionContext, RequestOf } from "./context.js";
import { signalProblem } from "./signals.js";
import { allow, deny } from "./verdicts.js";

/** A capability presented to a tool (or to Baton itself, for delegation) for one action. */
export function decideRedeem(context: DecisionContext, request: RequestOf<"redeem">): Outcome {
  const { workflow, state, nowSeconds, skew } = context;
  const token = request.token;
  const stage = workflow.definition.stages[state.stage];
  if (!stage) return deny("SEQUENCE_VIOLATION", "sequence has no current stage");

  // Defence in depth: routing by the signed `seq` already picked this ledger.
  if (token.seq !== state.record.seq) return deny("TOKEN_INVALID", "capability belongs to another sequence");
  if (token.workflow !== workflow.hash) return deny("TOKEN_INVALID", "capability names another workflow version");
  // RFC 7519 §4.1.3: a tool must reject a token not addressed to it; the caller is the tool.
  if (!token.aud.includes(request.tool)) {
    return deny("AUDIENCE_MISMATCH", `capability is not addressed to tool ${request.tool}`, { aud: token.aud });
  }
  const unbound = senderProblem(context, request);
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
  const budget = cumulativeAmount(usable, state, request.args);
  if (!budget.ok) return budget.outcome;

  const effects: Effect[] = [
    budget.amount === null ? { type: "use", grant: usable.index } : { type: "use", grant: usable.index, amount: budget.amount },
  ];
  if (request.dpop?.proof.ok) effects.push({ type: "spend", kind: "dpop", jti: request.dpop.proof.claims.jti });
  const usesAfter = grants.map((_, i) => (state.uses[i] ?? 0) + (i === usable.index ? 1 : 0));
  effects.push(...exhaustion(context, usesAfter, token.jti));
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
export function decideReportedRefusal(context: DecisionContext, request: RequestOf<"redeem">, refused: ReportedRefusal): Outcome {
  const { refused: _report, ...presented } = request;
  const own = decideRedeem(context, presented);
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

/**
 * RFC 9449 at the gate: a capability bound to a key (`cnf.jkt`) is honoured only
 * with a fresh, one-time proof of that key for this very request and token.
 */
function senderProblem({ workflow, state, nowSeconds, skew }: DecisionContext, request: RequestOf<"redeem" | "delegate">): Outcome | null {
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
    skew,
    DPOP_PROOF_MAX_AGE_SECONDS,
  );
  if (problem) return deny("TOKEN_INVALID", `DPoP proof rejected: ${problem}`);
  if (state.nonceUsed("dpop", dpop.proof.claims.jti)) return deny("REPLAY_NONCE", "DPoP proof jti was already used");
  return null;
}
