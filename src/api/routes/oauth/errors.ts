import { BatonError, type ReasonCode } from "../../../errors.js";
import { fromHttpException } from "../../fallback.js";

/**
 * The error codes an OAuth endpoint of Baton answers with: RFC 6749 §5.2, RFC 8693 §2.2.2
 * (`invalid_target`), RFC 9449 §5 (`invalid_dpop_proof`), RFC 6749 §4.1.2.1
 * (`unsupported_response_type`, `server_error`).
 */
export const OAUTH_ERROR_CODES = [
  "invalid_request",
  "invalid_client",
  "unauthorized_client",
  "unsupported_grant_type",
  "invalid_scope",
  "invalid_target",
  "invalid_dpop_proof",
  "unsupported_response_type",
  "server_error",
] as const;
export type OAuthErrorCode = (typeof OAUTH_ERROR_CODES)[number];

/** RFC 6749 §5.2: the challenge a 401 `invalid_client` carries, for the scheme Baton takes. */
const CLIENT_CHALLENGE = 'Basic realm="baton", charset="UTF-8"';

/**
 * An OAuth error with the Baton reason code it stands for: the body is RFC 6749 §5.2's
 * (`error`, `error_description`) plus `baton_code`, so an OAuth client reads the one and
 * a Baton client matches on the other.
 */
export class OAuthError extends Error {
  override readonly name = "OAuthError";
  readonly status: number;
  readonly headers: Record<string, string>;

  constructor(
    readonly error: OAuthErrorCode,
    readonly code: ReasonCode,
    description: string,
    options: { status?: number; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(description, { cause: options.cause });
    // RFC 6749 §5.2: invalid_client is 401 with a challenge when the client tried to authenticate.
    this.status = options.status ?? (error === "invalid_client" ? 401 : 400);
    this.headers = error === "invalid_client" ? { "www-authenticate": CLIENT_CHALLENGE, ...options.headers } : { ...options.headers };
  }

  toJSON(): { error: OAuthErrorCode; error_description: string; baton_code: ReasonCode } {
    return { error: this.error, error_description: describe(this.message), baton_code: this.code };
  }
}

/** What each Baton refusal is in OAuth's words, where no route said otherwise. */
export function oauthErrorOf(error: BatonError): OAuthError {
  const options = { cause: error };
  switch (error.code) {
    case "UNAUTHENTICATED":
      return new OAuthError("invalid_client", error.code, error.message, options);
    case "FORBIDDEN":
      return new OAuthError("unauthorized_client", error.code, error.message, options);
    case "AUDIENCE_MISMATCH":
      return new OAuthError("invalid_target", error.code, error.message, options);
    case "INTERNAL":
      return new OAuthError("server_error", error.code, error.message, { ...options, status: 500 });
    // Not a token request at all: the endpoint's own status, the OAuth body.
    case "NOT_FOUND":
    case "METHOD_NOT_ALLOWED":
    case "PAYLOAD_TOO_LARGE":
      return new OAuthError("invalid_request", error.code, error.message, { ...options, status: error.status });
    default:
      return new OAuthError("invalid_request", error.code, error.message, options);
  }
}

/**
 * Renders any failure under `/oauth/` as an OAuth error body (never Baton's envelope, which
 * an OAuth client cannot read), `Cache-Control: no-store` (RFC 6749 §5.1). Unknown failures
 * are logged with the request id and answered `server_error` with nothing else.
 */
export function oauthErrorResponse(error: unknown, requestId: string, headers: Record<string, string> = {}): Response {
  let failure: OAuthError;
  if (error instanceof OAuthError) failure = error;
  else if (error instanceof BatonError && error.code !== "INTERNAL") failure = oauthErrorOf(error);
  else {
    const refused = fromHttpException(error);
    if (refused) failure = oauthErrorOf(refused);
    else {
      console.error(`internal error (request ${requestId})`, error);
      failure = new OAuthError("server_error", "INTERNAL", `internal error (request ${requestId})`, { status: 500 });
    }
  }
  return new Response(JSON.stringify(failure), {
    status: failure.status,
    headers: {
      "content-type": "application/json; charset=utf-8",
      "cache-control": "no-store",
      pragma: "no-cache",
      "x-request-id": requestId,
      ...failure.headers,
      ...headers,
    },
  });
}

/** RFC 6749 §5.2: `error_description` is ASCII without `"` and `\`; anything else is replaced. */
function describe(message: string): string {
  return message.replace(/"/g, "'").replace(/\\/g, "/").replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, "?").slice(0, 500);
}
