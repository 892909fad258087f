import type { Effect, Outcome } from "../types.js";
import { type DecisionContext, type RequestOf, withState } from "./context.js";
import { gateOutcome } from "./gate.js";
import { allow, deny } from "./verdicts.js";

/**
 * A tool reports what happened after an allowed action. Always recorded (a failure
 * is worth a receipt too), once per redeem receipt; a success of an action the
 * pending gate asks for counts towards it, and may open the next stage.
 */
export function decideOutcome(context: DecisionContext, request: RequestOf<"outcome">): Outcome {
  const { workflow, state } = context;
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
  const after = withState(context, { ...state, outcomes: [...state.outcomes, accepted] });
  return gateOutcome(after, gate, { effects, fresh: request.fresh, what, signals: request.signals });
}
