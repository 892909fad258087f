import type { ReasonCode } from "../../errors.js";
import type { Refusal } from "../presentation.js";
import type { Effect, MintPlan, Outcome } from "../types.js";

// The three verdicts a decision ends in. An ESCALATE or a DENY persists nothing unless its
// decision adds effects (an approval counted while more are needed, a rejection).

export function allow(message: string, effects: Effect[], mint: MintPlan | null = null): Outcome {
  return { decision: "ALLOW", code: null, message, effects, mint };
}

/** Waiting on people: APPROVAL_REQUIRED, with what the approvals still lack. */
export function escalate(message: string, details: unknown): Outcome {
  return { decision: "ESCALATE", code: "APPROVAL_REQUIRED", message, details, effects: [], mint: null };
}

export function deny(code: ReasonCode, message: string, details?: unknown): Outcome {
  const outcome: Outcome = { decision: "DENY", code, message, effects: [], mint: null };
  if (details !== undefined) outcome.details = details;
  return outcome;
}

/** The gate's DENY of a presentation the shared checks refused. */
export function denial(refusal: Refusal): Outcome {
  return deny(refusal.code, refusal.message, refusal.details);
}
