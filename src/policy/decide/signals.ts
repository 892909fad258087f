import type { ConsultedSignal, Outcome } from "../types.js";
import type { SignalInputs } from "../workflow-schema.js";
import { deny } from "./verdicts.js";

/**
 * The analysis plane's say, only where the workflow declared it: an active
 * signal of a `block` detector denies; a `require` detector without one denies.
 * The signals are the ones the ledger fetched and recorded for this decision.
 */
export function signalProblem(inputs: SignalInputs | undefined, signals: readonly ConsultedSignal[] | undefined, nowSeconds: number): Outcome | null {
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
