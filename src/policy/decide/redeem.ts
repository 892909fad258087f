import type { CompiledWorkflow } from "../compile.js";
import type { ReportedRefusal } from "../offline-refusals.js";
import { type HolderRecord, type Presentation, capabilityProblem, conditionProblem, grantsForAction } from "../presentation.js";
import type { Effect, Outcome } from "../types.js";
import { cumulativeAmount, exhaustion } from "./budget.js";
import type { DecisionContext, RequestOf } from "./context.js";
import { lineageProblem } from "./lineage.js";
import { signalProblem } from "./signals.js";
import { allow, denial, deny } from "./verdicts.js";

/** A capability presented to a tool (or to Baton itself, for delegation) for one action. */
export function decideRedeem(context: DecisionContext, request: RequestOf<"redeem">): Outcome {
  const { workflow, state, nowSeconds } = context;
  const token = request.token;
  const stage = workflow.definition.stages[state.stage];
  if (!stage) return deny("SEQUENCE_VIOLATION", "sequence has no current stage");

  // Defence in depth: routing by the signed `seq` already picked this ledger.
  if (token.seq !== state.record.seq) return deny("TOKEN_INVALID", "capability belongs to another sequence");
  if (token.workflow !== workflow.hash) return deny("TOKEN_INVALID", "capability names another workflow version");
  const presented = capabilityProblem(token, presentation(request), context, holderRecord(context));
  if (presented) return denial(presented);
  if (token.stage !== stage.id) {
    return deny("SEQUENCE_VIOLATION", `capability is for stage ${token.stage}; the current stage is ${stage.id}`, {
      token_stage: token.stage,
      current_stage: stage.id,
    });
  }
  const orphaned = lineageProblem(stage.id, request.lineage);
  if (orphaned) return orphaned;
  if (state.nonceUsed("capability", token.jti)) return deny("REPLAY_NONCE", "capability has no uses left");
  if (state.capability?.jti !== token.jti) {
    return deny("TOKEN_INVALID", "capability was superseded by a re-issued one");
  }

  const grants = workflow.grants[state.stage] ?? [];
  const scoped = grantsForAction(
    grants.map((compiled, index) => ({ tool: compiled.grant.audience, actions: compiled.grant.actions, compiled, index })),
    { tool: request.tool, action: request.action, stage: stage.id },
    // Granted to this tool by another stage: the step-order attack itself (too early, or
    // that stage is closed), not a request for more than the workflow ever grants.
    () => stagesGranting(workflow, request.tool, request.action).filter((id) => id !== stage.id),
  );
  if ("refusal" in scoped) return denial(scoped.refusal);
  const { matching } = scoped;
  const usable = matching.find(({ compiled, index }) => (state.uses[index] ?? 0) < compiled.grant.uses);
  if (!usable) {
    return deny("SCOPE_EXCEEDED", `grant for ${request.action} has no uses left in stage ${stage.id}`, {
      remaining_uses: 0,
    });
  }
  const where = usable.compiled.where;
  const unmet = where && conditionProblem(where, { args: request.args, params: state.record.params });
  if (unmet) return denial(unmet);
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

/** The capability as the gate was handed it: by the tool that calls, with the agent's DPoP proof. */
function presentation(request: RequestOf<"redeem">): Presentation {
  return { audience: request.tool, audienceName: `tool ${request.tool}`, dpop: request.dpop, tokenDigest: request.tokenDigest };
}

/** RFC 9449 at the gate: the proof is the sequence actor's, and one-time. */
function holderRecord({ workflow, state }: DecisionContext): HolderRecord {
  return {
    senderConstrained: workflow.definition.sender_constrained,
    actorJkt: state.record.actorJkt,
    dpopSpent: (jti) => state.nonceUsed("dpop", jti),
  };
}
