import { REASON_STATUS, type ReasonCode } from "../errors.js";

/**
 * Stable codes of the verifier: Baton's reason codes (the same words whether the
 * refusal came from the offline check or from the gate), plus ISSUER_UNAVAILABLE
 * when Baton could not be reached and nothing cached could decide (fail closed).
 */
export type VerifierCode = ReasonCode | "ISSUER_UNAVAILABLE";

export class VerifierError extends Error {
  override readonly name = "VerifierError";
  readonly code: VerifierCode;
  /** The HTTP status a tool server should answer with. */
  readonly status: number;
  readonly details: unknown;
  /** Baton's signed receipt of the refusal, when the gate decided it. */
  readonly receipt: string | null;

  constructor(code: VerifierCode, message: string, options: { details?: unknown; receipt?: string | null; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.code = code;
    this.status = code === "ISSUER_UNAVAILABLE" ? 503 : REASON_STATUS[code];
    this.details = options.details;
    this.receipt = options.receipt ?? null;
  }

  toJSON() {
    return { error: { code: this.code, message: this.message, details: this.details, receipt: this.receipt } };
  }
}
