import type { ReasonCode } from "../errors.js";

/**
 * What a tool server's offline check (src/verifier) can refuse a capability whose
 * signature verified for. The verifier reports each such refusal to the gate
 * (`POST /v1/redeem` with `refused`), which receipts it as a DENY with the same code:
 * an attempt the tool stopped is in the sequence's chain like one the gate stopped.
 */
export const OFFLINE_REFUSAL_CODES = [
  "AUDIENCE_MISMATCH",
  "TOKEN_INVALID",
  "TOKEN_EXPIRED",
  "SEQUENCE_VIOLATION",
  "SCOPE_EXCEEDED",
  "CONDITION_FAILED",
] as const satisfies readonly ReasonCode[];

export type OfflineRefusalCode = (typeof OFFLINE_REFUSAL_CODES)[number];

/** A tool's report of its own offline refusal, as the gate records it. */
export interface ReportedRefusal {
  code: OfflineRefusalCode;
  message: string;
}

/**
 * The refusal of an action that the workflow grants the tool, but in another stage
 * than the capability's: the step-order attack (too early, or that stage is closed),
 * so SEQUENCE_VIOLATION rather than SCOPE_EXCEEDED. Shared by `decide()` and the
 * verifier, so both give the same code, words and details.
 */
export function stageSkipped(action: string, tool: string, grantedIn: readonly string[], current: string) {
  return {
    code: "SEQUENCE_VIOLATION" as const,
    message: `${action} is granted to ${tool} in stage ${grantedIn.join(", ")}, not in the current stage ${current}`,
    details: { action, tool, granted_in: [...grantedIn], current_stage: current },
  };
}
