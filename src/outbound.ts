/**
 * What every outbox of Baton shares (the ledger's, per sequence; the analyst's, for
 * signals): how long a failed target waits before the next try, and how one signed
 * event is POSTed to a webhook endpoint.
 */

/** The first retry waits this long; each further failure doubles it, up to the maximum. */
export const RETRY_FIRST_DELAY_MS = 2_000;
export const RETRY_MAX_DELAY_MS = 10 * 60_000;
/** A webhook endpoint that has not answered in this long has failed the attempt. */
export const WEBHOOK_TIMEOUT_MS = 10_000;

/** The pause after the `attempts`-th consecutive failure (1 → 2 s, 2 → 4 s, … capped at 10 min). */
export function retryDelayMs(attempts: number): number {
  const exponent = Math.min(Math.max(attempts, 1) - 1, 30);
  return Math.min(RETRY_FIRST_DELAY_MS * 2 ** exponent, RETRY_MAX_DELAY_MS);
}

/** How a POST leaves the Worker: the global fetch in production, a real local server in tests. */
export type Fetcher = (input: string, init: RequestInit) => Promise<Response>;

/**
 * POSTs one signed event (a compact JWS, `application/jwt`) and says whether the
 * endpoint acknowledged it: a 2xx within the timeout. Anything else — another
 * status, a network error, no answer in time — is a failed attempt, never a throw.
 */
export async function postEvent(fetcher: Fetcher, url: string, jws: string): Promise<boolean> {
  try {
    const response = await fetcher(url, {
      method: "POST",
      headers: { "content-type": "application/jwt" },
      body: jws,
      redirect: "manual",
      signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
    });
    // The body is not read: a receiver's answer carries nothing Baton uses.
    await response.body?.cancel();
    return response.status >= 200 && response.status < 300;
  } catch (error) {
    console.warn(`webhook ${url} failed; will retry`, String(error));
    return false;
  }
}
