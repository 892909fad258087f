import type { CompiledWorkflow } from "../compile.js";
import type { LedgerRequest, LedgerState, Outcome } from "../types.js";
import { decideApproval } from "./approval.js";
import { decisionContext } from "./context.js";
import { decideDelegate } from "./delegate.js";
import { decideEvidence } from "./evidence.js";
import { decideOutcome } from "./outcome.js";
import { decideRedeem, decideReportedRefusal } from "./redeem.js";
import { decideReissue } from "./reissue.js";
import { decideStart } from "./start.js";
import { allow, deny } from "./verdicts.js";

/**
 * The enforcement plane's only decision function. Pure: the workflow version, a
 * snapshot of the ledger, the request and the time in; the decision and the
 * effects to persist out. No I/O, no clock, no randomness — the auditor replays
 * receipts through this very function and must get the same answers.
 *
 * @param now milliseconds since the epoch, read once by the caller.
 */
export function decide(workflow: CompiledWorkflow, state: LedgerState, request: LedgerRequest, now: number): Outcome {
  const context = decisionContext(workflow, state, now);
  if (request.kind === "start") return decideStart(context, request.fresh);
  // Nothing that mutates a sequence gets past a seal; nothing unseals.
  if (state.status === "sealed") {
    return deny("SEALED_SEQUENCE", `sequence is sealed (${state.sealReason})`, { reason: state.sealReason });
  }
  switch (request.kind) {
    case "redeem":
      return request.refused ? decideReportedRefusal(context, request, request.refused) : decideRedeem(context, request);
    case "evidence":
      return decideEvidence(context, request);
    case "approval":
      return decideApproval(context, request);
    case "delegate":
      return decideDelegate(context, request);
    case "outcome":
      return decideOutcome(context, request);
    case "reissue":
      return decideReissue(context, request.fresh);
    case "revoke":
      return allow(`revoked by ${request.orchestrator}`, [{ type: "seal", reason: "revoked" }]);
  }
}
