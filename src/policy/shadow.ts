import type { ShadowClaims } from "../tokens/receipt.js";
import { withApprovalDigest } from "./approval-subject.js";
import type { CompiledWorkflow } from "./compile.js";
import { decide } from "./decide.js";
import { rebindRequest } from "./rebind.js";
import type { LedgerRequest, LedgerState, Outcome } from "./types.js";

/** How two decisions of one request differ: not at all (null), in the decision, or only in the code. */
export function flipOf(a: Pick<Outcome, "decision" | "code">, b: Pick<Outcome, "decision" | "code">): "decision" | "code" | null {
  if (a.decision !== b.decision) return "decision";
  return a.code !== b.code ? "code" : null;
}

/** What a shadow run is given: the decision the enforced version just made, and everything it was made from. */
export interface ShadowRun {
  enforced: CompiledWorkflow;
  state: LedgerState;
  request: LedgerRequest;
  now: number;
  outcome: Outcome;
}

/**
 * The candidate's decision of the request the enforced version just decided: the same
 * `decide()`, the same state (the enforced chain's fold: the candidate has no history of
 * its own), the same request re-bound to the candidate (its tokens and approvals name the
 * enforced version), the same `now`. Never throws: a candidate that does not compile, or
 * whose decision throws, is recorded as an `error` and decides nothing.
 */
export async function shadowDecision(candidate: CompiledWorkflow | { broken: string }, run: ShadowRun): Promise<ShadowClaims> {
  if ("broken" in candidate) return { candidate: null, flip: "error", error: `the candidate does not compile: ${candidate.broken}` };
  const hash = candidate.hash;
  try {
    const { enforced, state, request, now, outcome } = run;
    // Only the approval digest is the version's own: what the candidate's gate would ask approvers to approve.
    const seen = await withApprovalDigest(candidate, state);
    const rebound = rebindRequest(request, candidate, { digest: seen.approvalDigest, matched: state.approvalDigest });
    const shadow = decide(candidate, seen, rebound, now);
    const flip = flipOf(outcome, shadow);
    if (flip === null) return { candidate: hash, decision: shadow.decision, code: shadow.code, flip };
    return {
      candidate: hash,
      decision: shadow.decision,
      code: shadow.code,
      flip,
      message: shadow.message,
      condition: decidingCondition(candidate, seen, shadow),
      enforced_condition: decidingCondition(enforced, state, outcome),
    };
  } catch (error) {
    return { candidate: hash, flip: "error", error: `the candidate threw: ${error instanceof Error ? error.message : String(error)}` };
  }
}

/**
 * The condition that decided an outcome, when one did: the CEL condition (or limit) a
 * denial names; for an allowed use, the `where` of the grant it used; for accepted
 * evidence, the `where` of the requirement it met. Null where no condition decided
 * (a replayed nonce, another stage, a missing use).
 */
export function decidingCondition(workflow: CompiledWorkflow, state: LedgerState, outcome: Outcome): string | null {
  const details = (typeof outcome.details === "object" && outcome.details !== null ? outcome.details : {}) as Record<string, unknown>;
  if (typeof details.condition === "string") return details.condition;
  if (typeof details.limit === "string") return details.limit;
  if (outcome.decision === "DENY") return null;
  if (typeof details.grant === "number") return workflow.grants[state.stage]?.[details.grant]?.where?.source ?? null;
  for (const effect of outcome.effects) {
    if (effect.type === "accept_evidence") return workflow.gates[state.stage + 1]?.attestations[effect.evidence.requirement]?.where?.source ?? null;
  }
  return null;
}
