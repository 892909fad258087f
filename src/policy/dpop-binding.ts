import { type DpopProofClaims, type TokenRequestProofClaims, httpUrl } from "../tokens/dpop.js";

/**
 * Binds a verified proof to the request at hand (RFC 9449 §4.3): the capability's
 * key, this token (`ath`), this method and URL (query and fragment ignored), and
 * a fresh `iat`. Pure: `decide()` and the verifier call it with their `now`. The
 * one-time `jti` is the ledger's. Returns null when the proof is acceptable, else why not.
 */
export function dpopProblem(
  proof: { jkt: string; claims: DpopProofClaims },
  expected: { jkt: string; htm: string; htu: string; ath: string },
  nowSeconds: number,
  skewSeconds: number,
  maxAgeSeconds: number,
): string | null {
  if (proof.jkt !== expected.jkt) return "proof is signed by another key than the capability is bound to";
  if (proof.claims.ath !== expected.ath) return "proof is for another access token (ath)";
  return requestProblem(proof.claims, expected, nowSeconds, skewSeconds, maxAgeSeconds);
}

/**
 * A proof sent with a token exchange (RFC 9449 §5): signed by the key the subject token is
 * bound to, for POST to the token endpoint, fresh. Its `ath` is optional at the token
 * endpoint; when present it must be the subject token's. Pure, like `dpopProblem`.
 */
export function tokenRequestDpopProblem(
  proof: { jkt: string; claims: TokenRequestProofClaims },
  expected: { jkt: string; htu: string; subjectTokenHash: string },
  nowSeconds: number,
  skewSeconds: number,
  maxAgeSeconds: number,
): string | null {
  if (proof.jkt !== expected.jkt) return "proof is signed by another key than the subject token is bound to";
  if (proof.claims.ath !== undefined && proof.claims.ath !== expected.subjectTokenHash) return "proof is for another token than the subject token (ath)";
  return requestProblem(proof.claims, { htm: "POST", htu: expected.htu }, nowSeconds, skewSeconds, maxAgeSeconds);
}

/** The request a proof is for (method, URL) and its time window, whatever token it goes with. */
function requestProblem(
  claims: Pick<DpopProofClaims, "htm" | "htu" | "iat" | "exp">,
  expected: { htm: string; htu: string },
  nowSeconds: number,
  skewSeconds: number,
  maxAgeSeconds: number,
): string | null {
  // RFC 9110 §9.1: method names are case-sensitive.
  if (claims.htm !== expected.htm) return `proof is for method ${claims.htm}, not ${expected.htm}`;
  if (!sameResource(claims.htu, expected.htu)) return "proof is for another URL (htu)";
  if (claims.iat - skewSeconds > nowSeconds) return "proof is issued in the future";
  if (nowSeconds - claims.iat > maxAgeSeconds + skewSeconds) return "proof is too old";
  if (claims.exp !== undefined && claims.exp + skewSeconds <= nowSeconds) return "proof has expired";
  return null;
}

/**
 * RFC 9449 §4.3: `htu` matches the request URI without query and fragment,
 * after the normalisation URL parsing does (lower-case scheme and host,
 * default port dropped, empty path as "/", dot segments removed).
 */
function sameResource(a: string, b: string): boolean {
  const [x, y] = [httpUrl(a), httpUrl(b)];
  // Non-http(s) URLs all have the origin "null": never let two of them match.
  return x !== null && y !== null && x.origin === y.origin && x.pathname === y.pathname;
}
