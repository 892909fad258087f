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
  /** Single flight: concurrent misses share one fetch. */
  inflight: Promise<CachedSet> | null;
  lastAttempt: number;
}

/**
 * Module scope on purpose: a Workers isolate (or a Node process) serves many
 * requests, and each should not refetch the JWKS. Keyed by URL.
 */
const entries = new Map<string, Entry>();

export interface RemoteKeySetOptions {
  fetch: typeof fetch;
  now: () => number;
  /** A set older than this is refreshed on next use (default 5 min, the issuer's Cache-Control). */
  maxAgeMs?: number;
  /** At most one refresh per this interval for unknown kids (default 30 s): a flood of bogus kids cannot hammer the issuer. */
  minRefreshIntervalMs?: number;
}

/**
 * The issuer's JWKS, cached: an unknown kid forces one refresh (key rotation),
 * refreshes are single-flight and rate-limited, and when the issuer cannot be
 * reached only keys already cached can verify — otherwise it fails closed.
 */
export function remoteKeySet(url: string, options: RemoteKeySetOptions): KeySource {
  const maxAge = options.maxAgeMs ?? 300_000;
  const minInterval = options.minRefreshIntervalMs ?? 30_000;
  const entry = entries.get(url) ?? { set: null, inflight: null, lastAttempt: Number.NEGATIVE_INFINITY };
  entries.set(url, entry);

  const refresh = (): Promise<CachedSet> => {
    if (entry.inflight) return entry.inflight;
    entry.lastAttempt = options.now();
    entry.inflight = fetchSet(url, options)
      .then((set) => {
        entry.set = set;
        return set;
      })
      .finally(() => {
        entry.inflight = null;
      });
    return entry.inflight;
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

async function fetchSet(url: string, options: RemoteKeySetOptions): Promise<CachedSet> {
  const response = await options.fetch(url, { headers: { accept: "application/json" } });
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
