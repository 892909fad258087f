/**
 * The stable contract of DESIGN.md: every refusal carries exactly one code, and
 * clients match on the code, never on the message.
 */
export const REASON_STATUS = {
  SEQUENCE_VIOLATION: 409,
  REPLAY_NONCE: 409,
  SEALED_SEQUENCE: 409,
  EVIDENCE_INVALID: 403,
  EVIDENCE_STALE: 403,
  CONDITION_FAILED: 403,
  SCOPE_EXCEEDED: 403,
  APPROVAL_REQUIRED: 202,
  APPROVAL_DENIED: 403,
  SIGNAL_REQUIRED: 403,
  SIGNAL_BLOCKED: 403,
  TOKEN_INVALID: 401,
  TOKEN_EXPIRED: 401,
  AUDIENCE_MISMATCH: 403,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  UNKNOWN_WORKFLOW: 404,
  UNKNOWN_SEQUENCE: 404,
  INVALID_REQUEST: 400,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  IDEMPOTENCY_CONFLICT: 422,
  INTERNAL: 500,
} as const;

export type ReasonCode = keyof typeof REASON_STATUS;
export const REASON_CODES = Object.keys(REASON_STATUS) as ReasonCode[];

/** The one error envelope every route renders. */
export interface ErrorBody {
  error: {
    code: ReasonCode;
    message: string;
    details?: unknown;
    receipt: string | null;
  };
}

/**
 * The one error class. `details` is structured (zod issues, remaining budget...);
 * `receipt` is set when the refusal was a receipted decision of a sequence.
 */
export class BatonError extends Error {
  override readonly name = "BatonError";
  readonly code: ReasonCode;
  readonly details: unknown;
  readonly receipt: string | null;

  constructor(
    code: ReasonCode,
    message: string,
    options: { details?: unknown; receipt?: string | null; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.code = code;
    this.details = options.details;
    this.receipt = options.receipt ?? null;
  }

  get status(): number {
    return REASON_STATUS[this.code];
  }

  toBody(): ErrorBody {
    const error: ErrorBody["error"] = { code: this.code, message: this.message, receipt: this.receipt };
    if (this.details !== undefined) error.details = this.details;
    return { error };
  }
}
