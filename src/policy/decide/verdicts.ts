import type { ReasonCode } from "../../errors.js";
import type { Refusal } from "../presentation.js";
import type { Effect, MintPlan, Outcome } from "../types.js";

export function allow(message: string, effects: Effect[], mint: MintPlan | null = null): Outcome {
  return { decision: "ALLOW", code: null, message, effects, mint };
}

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
