import { type JWK, importJWK } from "jose";
import { VerifierError } from "./errors.js";

export interface KeySource {
  /** The key with this kid, refreshing the set when the kid is unknown (rate-limited). */
  key(kid: string): Promise<{ key: CryptoKey; alg: string } | undefined>;
}

interface CachedSet {
  keys: Map<string, { key: CryptoKey; alg: string }>;
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
 * requests, and each should not refetch the JWKS. Keyed by URL.
 *
 * Why not jose's createRemoteJWKSet (a dependency already): it reads `Date.now()`, where
 * the verifier takes `now` (its tests move the clock); its cooldown runs from the last
 * successful fetch, so while the issuer is down every unknown kid fetches again, where
 * here one attempt per interval is made whatever its outcome; a failed refresh fails
 * there even when the key is cached, where here a cached key still verifies (stale beats
 * refusing every call); and it picks keys by the header's `alg`, where the verifier
 * imports Ed25519 public keys only (anything else in the set is ignored, never trusted). What it does that this did not is taken over: a fetch timeout
 * (the same 5 s default), and care for Workers, where a fetch started by another request
 * may never settle for this one (its request can end and take its I/O with it; jose does
 * not share a pending fetch there at all). Here a waiter shares a pending fetch for at
 * most the timeout, on its own timer, then fetches for itself — so concurrent misses in
 * one request still cost one fetch, and no request can hang on another's.
 */
const entries = new Map<string, Entry>();

export interface RemoteKeySetOptions {
  fetch: typeof fetch;
  now: () => number;
  /** A set older than this is refreshed on next use (default 5 min, the issuer's Cache-Control). */
  maxAgeMs?: number;
  /** At most one refresh per this interval for unknown kids (default 30 s): a flood of bogus kids cannot hammer the issuer. */
  minRefreshIntervalMs?: number;
  /** How long one JWKS fetch may take before it is abandoned (default 5 s, as jose's createRemoteJWKSet). */
  timeoutMs?: number;
}

/**
 * The issuer's JWKS, cached: an unknown kid forces one refresh (key rotation),
 * refreshes are single-flight and rate-limited, and when the issuer cannot be
 * reached only keys already cached can verify — otherwise it fails closed.
 */
export function remoteKeySet(url: string, options: RemoteKeySetOptions): KeySource {
  const maxAge = options.maxAgeMs ?? 300_000;
  const minInterval = options.minRefreshIntervalMs ?? 30_000;
  const timeout = options.timeoutMs ?? 5_000;
  const entry = entries.get(url) ?? { set: null, inflight: null, lastAttempt: Number.NEGATIVE_INFINITY };
  entries.set(url, entry);

  const store = (set: CachedSet): CachedSet => {
    entry.set = set;
    return set;
  };
  const refresh = async (): Promise<CachedSet> => {
    if (entry.inflight) return (await within(entry.inflight, timeout)) ?? store(await fetchSet(url, options, timeout));
    entry.lastAttempt = options.now();
    const inflight = fetchSet(url, options, timeout)
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
          throw new VerifierError("ISSUER_UNAVAILABLE", `cannot fetch the issuer's keys from ${url}`, { cause: error });
        }
      }
      return cached;
    },
  };
}

/** A fixed key set (tests, or a tool that pins the issuer's keys). */
export function staticKeySet(jwks: { keys: JWK[] }): KeySource {
  const imported = importSet(jwks, 0);
  return { key: async (kid) => (await imported).keys.get(kid) };
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

async function fetchSet(url: string, options: RemoteKeySetOptions, timeoutMs: number): Promise<CachedSet> {
  const response = await options.fetch(url, { headers: { accept: "application/json" }, signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`JWKS answered ${response.status}`);
  return importSet((await response.json()) as { keys: JWK[] }, options.now());
}

async function importSet(jwks: { keys: JWK[] }, fetchedAt: number): Promise<CachedSet> {
  const keys = new Map<string, { key: CryptoKey; alg: string }>();
  for (const jwk of Array.isArray(jwks?.keys) ? jwks.keys : []) {
    // Only what Baton signs with: Ed25519 keys with a kid. Anything else is ignored, never trusted.
    if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519" || typeof jwk.kid !== "string" || "d" in jwk) continue;
    keys.set(jwk.kid, { key: (await importJWK({ ...jwk, alg: "EdDSA" }, "EdDSA")) as CryptoKey, alg: "EdDSA" });
  }
  return { keys, fetchedAt };
}

/** For tests: forget every cached key set. */
export function clearKeyCache(): void {
  entries.clear();
}
