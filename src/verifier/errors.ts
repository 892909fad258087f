import { CodedError, REASON_STATUS, type ReasonCode } from "../errors.js";

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

/** A refusal of the verifier; `toJSON()` is Baton's error envelope, so a tool server can answer with it as is. */
export class VerifierError extends CodedError<VerifierCode> {
  override readonly name = "VerifierError";
  /**
   * The sequence's current stage when Baton refused, read from the refusal's receipt once its
   * signature verified (the receipt records the stage the decision was made in); null without
   * a receipt. It tells the agent which stage is open, e.g. after SEQUENCE_VIOLATION.
   */
  readonly currentStage: string | null;

  constructor(
    code: VerifierCode,
    message: string,
    options: { details?: unknown; receipt?: string | null; cause?: unknown; currentStage?: string | null } = {},
  ) {
    super(code, code in TOOL_STATUS ? TOOL_STATUS[code as keyof typeof TOOL_STATUS] : REASON_STATUS[code as ReasonCode], message, options);
    this.currentStage = options.currentStage ?? null;
  }
}
