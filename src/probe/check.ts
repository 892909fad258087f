/**
 * Why a check did not pass. `retryable` says whether checking again later can change the
 * answer (the error rate may fall; a query Prometheus rejects stays rejected), so the watch
 * mode knows when to give up early.
 */
export type CheckFailureReason =
  | "unreachable"
  | "upstream_error"
  | "query_rejected"
  | "no_data"
  | "many_series"
  | "gap"
  | "not_a_number"
  | "threshold"
  | "status"
  | "too_slow"
  | "too_large";

/** What one run of a check found. Only a passed check is ever signed. */
export type CheckResult =
  | { passed: true; facts: Record<string, unknown>; value?: number }
  | { passed: false; reason: CheckFailureReason; message: string; retryable: boolean };

export type CheckFailure = Extract<CheckResult, { passed: false }>;

/** A check bound to its target, run at `nowMs` (the probe's clock, injected for tests). */
export type Check = (nowMs: number) => Promise<CheckResult>;

export const failed = (reason: CheckFailureReason, message: string, retryable = true): CheckFailure => ({ passed: false, reason, message, retryable });

/** How long one request to a checked system may take before the check counts it unreachable. */
export const CHECK_REQUEST_TIMEOUT_MS = 10_000;

/**
 * The URL to call and the URL to record: credentials written into the URL (`https://user:pass@…`)
 * move to an Authorization header, because fetch refuses them in the URL and because the
 * recorded URL ends up in a signed attestation that every receipt reader sees.
 */
export function endpointOf(raw: string): { url: string; headers: Record<string, string> } {
  const url = new URL(raw);
  const headers: Record<string, string> = {};
  if (url.username || url.password) {
    const user = decodeURIComponent(url.username);
    const password = decodeURIComponent(url.password);
    headers.authorization = `Basic ${btoa(`${user}:${password}`)}`;
    url.username = "";
    url.password = "";
  }
  return { url: url.href, headers };
}

/** The time a check was evaluated at, as the attestation records it (RFC 3339, UTC). */
export const isoTime = (ms: number) => new Date(ms).toISOString();

/** An error's message with its cause (fetch hides the socket error there). */
export function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? ` (${error.cause.message})` : "";
  return `${error.message}${cause}`;
}
