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

/** The one error envelope every route renders, and the verifier's errors serialize to. */
export interface ErrorBody<Code extends string = ReasonCode> {
  error: {
    code: Code;
    message: string;
    details?: unknown;
    receipt: string | null;
  };
}

/**
 * A refusal with one stable code, the HTTP status it answers with, structured details and,
 * when a receipted decision refused it, the receipt. Baton's BatonError and the verifier
 * library's VerifierError are this one shape, serialized by `toJSON()` (so JSON.stringify
 * renders the envelope). No imports: the verifier package is built from what it imports.
 */
export class CodedError<Code extends string> extends Error {
  readonly code: Code;
  /** The HTTP status to answer with. */
  readonly status: number;
  readonly details: unknown;
  /** The signed receipt of the refusal, when a decision of a sequence refused it. */
  readonly receipt: string | null;

  constructor(code: Code, status: number, message: string, options: { details?: unknown; receipt?: string | null; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.code = code;
    this.status = status;
    this.details = options.details;
    this.receipt = options.receipt ?? null;
  }

  toJSON(): ErrorBody<Code> {
    // Members in the order the service has always written them: stored idempotent answers
    // replay byte for byte, and a client comparing bodies sees no change.
    const { code, message, details, receipt } = this;
    return { error: { code, message, receipt, ...(details === undefined ? {} : { details }) } };
  }
}

/**
 * The one error class of the service. `details` is structured (zod issues, remaining budget...);
 * `receipt` is set when the refusal was a receipted decision of a sequence.
 */
export class BatonError extends CodedError<ReasonCode> {
  override readonly name = "BatonError";

  constructor(code: ReasonCode, message: string, options: { details?: unknown; receipt?: string | null; cause?: unknown } = {}) {
    super(code, REASON_STATUS[code], message, options);
  }
}
