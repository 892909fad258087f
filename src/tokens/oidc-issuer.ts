import { type JWK, importJWK } from "jose";
import { isLoopbackUrl } from "../loopback.js";
import { type FetchedKey, type KeySetLoader, fetchJsonDocument, jwksKeys } from "./remote-key-set.js";

/**
 * What a workload token may be signed with. Never `none`, never HS*: a shared secret
 * would let whoever verifies sign too. RS256 because GitHub, GitLab, Kubernetes and
 * Google sign with it; ES256 and EdDSA for issuers that use elliptic curves.
 */
export const WORKLOAD_ALGORITHMS = ["RS256", "ES256", "EdDSA"] as const;
export type WorkloadAlgorithm = (typeof WORKLOAD_ALGORITHMS)[number];
export const WORKLOAD_DEFAULT_ALGORITHMS: readonly WorkloadAlgorithm[] = ["RS256", "ES256"];

/** The public members of each key type (RFC 7518 §6): all an import and a receipt need. */
const PUBLIC_MEMBERS: Record<string, readonly string[]> = { RSA: ["kty", "n", "e"], EC: ["kty", "crv", "x", "y"], OKP: ["kty", "crv", "x"] };

/** The algorithm a key without `alg` is used with; RSA-PSS only when the key says so. */
function algorithmOf(jwk: JWK): string | undefined {
  if (typeof jwk.alg === "string") return jwk.alg;
  if (jwk.kty === "RSA") return "RS256";
  if (jwk.kty === "EC" && jwk.crv === "P-256") return "ES256";
  if (jwk.kty === "OKP" && jwk.crv === "Ed25519") return "EdDSA";
  return undefined;
}

/** OpenID Connect Discovery 1.0 §4: the configuration document lives at the issuer plus this path. */
export function discoveryUrl(issuer: string): string {
  return `${issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`;
}

/**
 * The signing keys of an OIDC issuer, for the shared key-set cache: its discovery
 * document names `jwks_uri`, and only keys usable for signatures with one of
 * WORKLOAD_ALGORITHMS are imported (which of them an attester accepts is checked on
 * each token, so the cached set depends on the issuer alone). Redirects are failures, never followed; the
 * document's `issuer` must be exactly the configured one (Discovery §4.3, so a
 * document served for another issuer cannot lend it its keys), and `jwks_uri` must
 * be https — plain http only to the loopback, for an issuer that is itself there
 * (development: the configuration refuses an http issuer anywhere else).
 */
export function oidcIssuerKeys(issuer: string): KeySetLoader {
  const discovery = discoveryUrl(issuer);
  return {
    id: discovery,
    async load(fetcher, timeoutMs) {
      const document = (await fetchJsonDocument(discovery, fetcher, timeoutMs, "manual")) as { issuer?: unknown; jwks_uri?: unknown } | null;
      if (document?.issuer !== issuer) throw new Error(`the discovery document is for issuer ${JSON.stringify(document?.issuer)}, not ${issuer}`);
      const jwksUri = typeof document.jwks_uri === "string" ? parsedUrl(document.jwks_uri) : null;
      if (!jwksUri) throw new Error("the discovery document names no jwks_uri");
      const plainAllowed = new URL(issuer).protocol === "http:" && isLoopbackUrl(jwksUri);
      if (jwksUri.protocol !== "https:" && !(jwksUri.protocol === "http:" && plainAllowed)) throw new Error(`jwks_uri ${jwksUri} is not https`);
      return fetchJsonDocument(jwksUri.href, fetcher, timeoutMs, "manual");
    },
    importKeys: (jwks) => importSigningKeys(jwks, WORKLOAD_ALGORITHMS),
  };
}

/** The keys of a set that verify signatures with an allowed algorithm, each with its public JWK (kid and alg included). */
export async function importSigningKeys(jwks: unknown, algorithms: readonly string[]): Promise<Map<string, FetchedKey>> {
  const keys = new Map<string, FetchedKey>();
  for (const jwk of jwksKeys(jwks)) {
    const alg = algorithmOf(jwk);
    const members = PUBLIC_MEMBERS[String(jwk.kty)];
    // A key without a kid cannot be named by a token; one meant for encryption, or carrying private members, is not a signing key to trust.
    if (typeof jwk.kid !== "string" || jwk.kid.length === 0 || !alg || !algorithms.includes(alg) || !members) continue;
    if ((jwk.use !== undefined && jwk.use !== "sig") || "d" in jwk) continue;
    const source = jwk as Record<string, unknown>;
    const publicJwk: Record<string, unknown> = { kid: jwk.kid, alg };
    for (const member of members) if (source[member] !== undefined) publicJwk[member] = source[member];
    try {
      keys.set(jwk.kid, { key: (await importJWK(publicJwk as JWK, alg)) as CryptoKey, alg, jwk: publicJwk as JWK });
    } catch {
      // A key that does not import under its algorithm (an RSA key marked ES256) is skipped, never trusted.
    }
  }
  return keys;
}

function parsedUrl(text: string): URL | null {
  try {
    return new URL(text);
  } catch {
    return null;
  }
}
