import type { Decision, ReceiptClaims } from "./receipt.js";

type Side = { decision: Decision; code: string | null; condition: string | null };

/** One decision a shadow candidate would have made otherwise, or could not make: a line of the shadow report. */
export interface ShadowEntry {
  seq: string;
  n: number;
  /** Milliseconds: the `now` both decisions were made at. */
  at: number;
  kind: string;
  stage: string;
  /** The enforced workflow version (the receipt's `workflow`). */
  version: string;
  candidate: string | null;
  flip: "decision" | "code" | "error";
  enforced: Side;
  /** The candidate's side; null when it could not decide (`error` says why). */
  shadow: (Side & { message: string }) | null;
  error?: string;
}

/**
 * The shadow report's line for a receipt, read from its claims alone, or null when the
 * candidate agreed (or none was configured). The sequence index builds its listing with
 * this, and `baton shadow report` rebuilds each line from the signed receipt with it too,
 * so a listing that says something its receipt does not is caught.
 */
export function shadowEntry(claims: ReceiptClaims): ShadowEntry | null {
  const shadow = claims.shadow;
  if (!shadow || shadow.flip === null) return null;
  const common = { seq: claims.seq, n: claims.n, at: claims.at, kind: claims.kind, stage: claims.stage, version: claims.workflow, candidate: shadow.candidate };
  if (shadow.flip === "error") {
    return { ...common, flip: "error", enforced: { decision: claims.decision, code: claims.code, condition: null }, shadow: null, error: shadow.error };
  }
  return {
    ...common,
    flip: shadow.flip,
    enforced: { decision: claims.decision, code: claims.code, condition: shadow.enforced_condition },
    shadow: { decision: shadow.decision, code: shadow.code, condition: shadow.condition, message: shadow.message },
  };
}
