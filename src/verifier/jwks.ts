import { type JWK, importJWK } from "jose";
import {
  type FetchedKey,
  type KeySource,
  KeySetUnavailable,
  type RemoteKeySetOptions,
  clearKeySetCache,
  fetchJsonDocument,
  jwksKeys,
  remoteKeySet as cachedKeySet,
} from "../tokens/remote-key-set.js";
import { VerifierError } from "./errors.js";

export type { KeySource, RemoteKeySetOptions } from "../tokens/remote-key-set.js";

/**
 * Baton's JWKS, cached (tokens/remote-key-set.ts: single flight, bounded age, fetch
 * timeout, rate-limited refresh on an unknown kid): when Baton cannot be reached only
 * keys already cached can verify — otherwise ISSUER_UNAVAILABLE, failing closed.
 */
export function remoteKeySet(url: string, options: RemoteKeySetOptions): KeySource {
  const keys = cachedKeySet({ id: url, load: (fetcher, timeoutMs) => fetchJsonDocument(url, fetcher, timeoutMs), importKeys: importBatonKeys }, options);
  return {
    async key(kid) {
      try {
        return await keys.key(kid);
      } catch (error) {
        if (!(error instanceof KeySetUnavailable)) throw error;
        throw new VerifierError("ISSUER_UNAVAILABLE", `cannot fetch the issuer's keys from ${url}`, { cause: error });
      }
    },
  };
}

/** A fixed key set (tests, or a tool that pins the issuer's keys). */
export function staticKeySet(jwks: { keys: JWK[] }): KeySource {
  const imported = importBatonKeys(jwks);
  return { key: async (kid) => (await imported).get(kid) };
}

async function importBatonKeys(jwks: unknown): Promise<Map<string, FetchedKey>> {
  const keys = new Map<string, FetchedKey>();
  for (const jwk of jwksKeys(jwks)) {
    // Only what Baton signs with: Ed25519 keys with a kid. Anything else is ignored, never trusted.
    if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519" || typeof jwk.kid !== "string" || "d" in jwk) continue;
    keys.set(jwk.kid, { key: (await importJWK({ ...jwk, alg: "EdDSA" }, "EdDSA")) as CryptoKey, alg: "EdDSA", jwk });
  }
  return keys;
}

/** For tests: forget every cached key set. */
export function clearKeyCache(): void {
  clearKeySetCache();
}
