import { REASON_STATUS, type ReasonCode } from "../errors.js";

/**
 * Stable codes of the verifier: Baton's reason codes (the same words whether the
 * refusal came from the offline check or from the gate), plus the tool server's own
 * failures, which say the agent's capability was not judged:
 * - ISSUER_UNAVAILABLE (503): Baton could not be reached and nothing cached could decide (fail closed);
 * - TOOL_CREDENTIAL_MISSING (500): the verifier has no `apiKey`, so it cannot call the gate;
 * - TOOL_CREDENTIAL_REFUSED (502): Baton refused the tool server's own API key (wrong key, or not a `tool:<id>` role).
 */
export type VerifierCode = ReasonCode | "ISSUER_UNAVAILABLE" | "TOOL_CREDENTIAL_MISSING" | "TOOL_CREDENTIAL_REFUSED";

const TOOL_STATUS = { ISSUER_UNAVAILABLE: 503, TOOL_CREDENTIAL_MISSING: 500, TOOL_CREDENTIAL_REFUSED: 502 } as const;

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
    this.status = code in TOOL_STATUS ? TOOL_STATUS[code as keyof typeof TOOL_STATUS] : REASON_STATUS[code as ReasonCode];
    this.details = options.details;
    this.receipt = options.receipt ?? null;
  }

  toJSON() {
    return { error: { code: this.code, message: this.message, details: this.details, receipt: this.receipt } };
  }
}
