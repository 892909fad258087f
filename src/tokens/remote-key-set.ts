import type { JWK } from "jose";
import { KEY_SET_DOCUMENT_MAX_BYTES } from "../limits.js";

/** A verification key of a fetched set, with the public JWK it was imported from. */
export interface FetchedKey {
  key: CryptoKey;
  alg: string;
  jwk: JWK;
}

export interface KeySource {
  /** The key with this kid, refreshing the set when the kid is unknown (rate-limited). */
  key(kid: string): Promise<FetchedKey | undefined>;
}

/** Where a key set comes from and which of its keys are trusted: the one part that differs per issuer. */
export interface KeySetLoader {
  /** What the cache is keyed by (the JWKS URL, or the OIDC issuer whose discovery names it). */
  id: string;
  /** Fetches the JWK Set document; each fetch it makes is abandoned after `timeoutMs`. */
  load(fetcher: typeof fetch, timeoutMs: number): Promise<unknown>;
  /** The keys of a fetched set this source trusts, by kid. Anything else is ignored, never trusted. */
  importKeys(jwks: unknown): Promise<Map<string, FetchedKey>>;
}

/** The set could not be fetched and no cached key could answer: callers fail closed. */
export class KeySetUnavailable extends Error {
  override readonly name = "KeySetUnavailable";
}

export interface RemoteKeySetOptions {
  fetch: typeof fetch;
  now: () => number;
  /** A set older than this is refreshed on next use (default 5 min, the issuer's Cache-Control). */
  maxAgeMs?: number;
  /** At most one refresh per this interval for unknown kids (default 30 s): a flood of bogus kids cannot hammer the issuer. */
  minRefreshIntervalMs?: number;
  /** How long one fetch may take before it is abandoned (default 5 s, as jose's createRemoteJWKSet). */
  timeoutMs?: number;
}

interface CachedSet {
  keys: Map<string, FetchedKey>;
  fetchedAt: number;
}

interface Entry {
  set: CachedSet | null;
  /** Single flight: concurrent misses share one fetch (waiting for it at most the fetch timeout). */
  inflight: Promise<CachedSet> | null;
  lastAttempt: number;
}

/**
 * Module scope on purpose: a Workers isolate (or a Node process) serves many
 * requests, and each should not refetch the keys. Keyed by the loader's id.
 *
 * Why not jose's createRemoteJWKSet (a dependency already): it reads `Date.now()`, where
 * callers take `now` (tests move the clock); its cooldown runs from the last successful
 * fetch, so while the issuer is down every unknown kid fetches again, where here one
 * attempt per interval is made whatever its outcome; a failed refresh fails there even
 * when the key is cached, where here a cached key still verifies (stale beats refusing
 * every call); and it picks keys by the header's `alg`, where here the loader decides
 * which keys it trusts and with which algorithm. What it does that this did not is taken
 * over: a fetch timeout (the same 5 s default), and care for Workers, where a fetch
 * started by another request may never settle for this one (its request can end and take
 * its I/O with it; jose does not share a pending fetch there at all). Here a waiter shares
 * a pending fetch for at most the timeout, on its own timer, then fetches for itself — so
 * concurrent misses in one request still cost one fetch, and no request can hang on another's.
 */
const entries = new Map<string, Entry>();

/**
 * A remote key set, cached: an unknown kid forces one refresh (key rotation),
 * refreshes are single-flight and rate-limited, and when the set cannot be
 * fetched only keys already cached can verify — otherwise KeySetUnavailable.
 */
export function remoteKeySet(loader: KeySetLoader, options: RemoteKeySetOptions): KeySource {
  const maxAge = options.maxAgeMs ?? 300_000;
  const minInterval = options.minRefreshIntervalMs ?? 30_000;
  const timeout = options.timeoutMs ?? 5_000;
  const entry = entries.get(loader.id) ?? { set: null, inflight: null, lastAttempt: Number.NEGATIVE_INFINITY };
  entries.set(loader.id, entry);

  const fetchSet = async (): Promise<CachedSet> => ({
    keys: await loader.importKeys(await loader.load(options.fetch, timeout)),
    fetchedAt: options.now(),
  });
  const store = (set: CachedSet): CachedSet => {
    entry.set = set;
    return set;
  };
  const refresh = async (): Promise<CachedSet> => {
    if (entry.inflight) return (await within(entry.inflight, timeout)) ?? store(await fetchSet());
    entry.lastAttempt = options.now();
    const inflight = fetchSet()
      .then(store)
      .finally(() => {
        if (entry.inflight === inflight) entry.inflight = null;
      });
    entry.inflight = inflight;
    return inflight;
  };

  return {
    async key(kid) {
      const now = options.now();
      const cached = entry.set?.keys.get(kid);
      const stale = !entry.set || now - entry.set.fetchedAt > maxAge;
      if (cached && !stale) return cached;
      // Unknown kid, or a stale set: refresh, unless we just tried.
      if (entry.inflight || now - entry.lastAttempt >= minInterval || !entry.set) {
        try {
          return (await refresh()).keys.get(kid);
        } catch (error) {
          // Fail closed, except with a key already known: stale is better than refusing every call.
          if (cached) return cached;
          throw new KeySetUnavailable(`cannot fetch the keys of ${loader.id}: ${(error as Error).message}`, { cause: error });
        }
      }
      return cached;
    },
  };
}

/**
 * GETs a JSON document of a key set's issuer, within the timeout and a size bound. With
 * `redirect: "manual"` a redirect is a failure, not a hop to wherever it points.
 */
export async function fetchJsonDocument(url: string, fetcher: typeof fetch, timeoutMs: number, redirect: "follow" | "manual" = "follow"): Promise<unknown> {
  const response = await fetcher(url, { headers: { accept: "application/json" }, redirect, signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  const text = await response.text();
  if (text.length > KEY_SET_DOCUMENT_MAX_BYTES) throw new Error(`${url} answered more than ${KEY_SET_DOCUMENT_MAX_BYTES} bytes`);
  return JSON.parse(text);
}

/** The JWKs of a fetched set (RFC 7517 §5), or none when it has no `keys` array. */
export function jwksKeys(jwks: unknown): JWK[] {
  const keys = (jwks as { keys?: unknown } | null)?.keys;
  return Array.isArray(keys) ? keys.filter((k): k is JWK => k !== null && typeof k === "object") : [];
}

/** The promise's value, or undefined when it has not settled within `ms` (a rejection rejects). */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let cancel = () => {};
  const elapsed = new Promise<undefined>((resolve) => {
    const timer = setTimeout(resolve, ms);
    cancel = () => clearTimeout(timer);
  });
  try {
    return await Promise.race([promise, elapsed]);
  } finally {
    cancel();
  }
}

/** For tests: forget every cached key set. */
export function clearKeySetCache(): void {
  entries.clear();
}
