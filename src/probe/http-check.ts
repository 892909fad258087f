import { CHECK_REQUEST_TIMEOUT_MS, type Check, describe, endpointOf, failed, isoTime } from "./check.js";

export interface HttpCheckOptions {
  /** The URL to GET (user:password@ becomes Basic auth, and is not recorded). */
  url: string;
  /** The status a healthy answer has (default 200). */
  expectStatus?: number;
  /** The slowest answer that still passes; slower ones fail as `too_slow`. */
  maxLatencyMs?: number;
  fetch?: typeof fetch;
}

/** The facts an HTTP check measures: the operator's own `--facts` may not use these names. */
export const HTTP_FACTS = ["check", "url", "status", "latency_ms", "expect_status", "max_latency_ms", "evaluated_at"] as const;

/**
 * A health check: one GET, passed when the status is the expected one and the answer came
 * in time. Redirects are not followed: a health endpoint that redirects (to a login page,
 * say) is not answering for itself. The facts record the URL, status and latency.
 */
export function createHttpCheck(options: HttpCheckOptions): Check {
  const { url, headers } = endpointOf(options.url);
  const expectStatus = options.expectStatus ?? 200;
  const limitMs = options.maxLatencyMs ?? CHECK_REQUEST_TIMEOUT_MS;
  const doFetch = options.fetch ?? ((input, init) => fetch(input, init));
  return async (nowMs) => {
    const started = performance.now();
    let status: number;
    try {
      const response = await doFetch(url, { headers, redirect: "manual", signal: AbortSignal.timeout(limitMs) });
      status = response.status;
      await response.body?.cancel();
    } catch (error) {
      if (error instanceof Error && error.name === "TimeoutError") return failed("too_slow", `${url} did not answer within ${limitMs} ms`);
      return failed("unreachable", `${url} did not answer: ${describe(error)}`);
    }
    const latencyMs = Math.round(performance.now() - started);
    if (status !== expectStatus) return failed("status", `${url} answered ${status}, not ${expectStatus}`);
    if (latencyMs > limitMs) return failed("too_slow", `${url} answered in ${latencyMs} ms, more than ${limitMs} ms`);
    const facts: Record<string, unknown> = { check: "http", url, status, latency_ms: latencyMs, expect_status: expectStatus, evaluated_at: isoTime(nowMs) };
    if (options.maxLatencyMs !== undefined) facts.max_latency_ms = options.maxLatencyMs;
    return { passed: true, facts };
  };
}
