import {
  type JWK,
  type JWSHeaderParameters,
  SignJWT,
  calculateJwkThumbprint,
  compactVerify,
  decodeProtectedHeader,
  importJWK,
} from "jose";
import { z } from "zod";
import { TOKEN_MAX_BYTES } from "../limits.js";
import { sha256 } from "./digest.js";
import { isCanonicalBase64url } from "./jws.js";
import { EVIDENCE_ALGORITHMS } from "./kinds.js";

/** RFC 9449 §4.2: the `typ` of a DPoP proof. */
export const DPOP_TYP = "dpop+jwt";

export interface DpopProofClaims {
  htm: string;
  htu: string;
  iat: number;
  jti: string;
  ath: string;
}

export type DpopCheck = { ok: true; jkt: string; claims: DpopProofClaims } | { ok: false; message: string };

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** Header parameters that would point at other keys or change processing: refused, as for every Baton JWS. */
const REFUSED_HEADERS = ["jku", "x5u", "x5c", "x5t", "x5t#S256", "crit", "b64"] as const;
/** Members of a private JWK (RFC 7518 §6.2.2, §6.3.2): a proof carries the public key only. */
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] as const;
const KEY_TYPE: Record<string, { kty: string; crv: string }> = {
  EdDSA: { kty: "OKP", crv: "Ed25519" },
  ES256: { kty: "EC", crv: "P-256" },
};
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

const HttpUrl = z
  .string()
  .max(2048)
  .refine((value) => URL.canParse(value) && /^https?:$/.test(new URL(value).protocol), "an absolute http(s) URL");

const ProofClaimsSchema = z.object({
  htm: z.string().min(1).max(16),
  htu: HttpUrl,
  iat: z.int().nonnegative(),
  jti: z.string().min(1).max(256),
  ath: z.string().regex(/^[A-Za-z0-9_-]{43}$/, "a base64url SHA-256"),
});

/**
 * Verifies a DPoP proof's shape and signature with the key it embeds (that is
 * the point of DPoP: the capability's `cnf.jkt` says which key must sign).
 * No clock and no binding here: `dpopProblem` does those, inside `decide()`.
 */
export async function checkDpopProof(proof: unknown): Promise<DpopCheck> {
  if (typeof proof !== "string") return fail("proof is not a string");
  if (proof.length > TOKEN_MAX_BYTES) return fail(`proof is longer than ${TOKEN_MAX_BYTES} bytes`);
  if (!COMPACT_JWS.test(proof)) return fail("proof is not a compact JWS");
  if (!proof.split(".").every(isCanonicalBase64url)) return fail("proof is not canonical base64url");
  let header: JWSHeaderParameters;
  try {
    header = decodeProtectedHeader(proof) as JWSHeaderParameters;
  } catch {
    return fail("proof header is not valid base64url JSON");
  }
  if (typeof header.typ !== "string" || header.typ.toLowerCase() !== DPOP_TYP) return fail(`proof typ must be ${DPOP_TYP}`);
  const alg = header.alg;
  if (typeof alg !== "string" || !(EVIDENCE_ALGORITHMS as readonly string[]).includes(alg)) {
    return fail(`proof algorithm ${String(alg)} is not accepted`);
  }
  for (const name of REFUSED_HEADERS) {
    if (name in header) return fail(`proof header parameter ${name} is not accepted`);
  }
  const jwk = header.jwk as Record<string, unknown> | undefined;
  if (!jwk || typeof jwk !== "object" || Array.isArray(jwk)) return fail("proof has no jwk header");
  if (PRIVATE_MEMBERS.some((member) => member in jwk)) return fail("proof jwk must be a public key");
  const expected = KEY_TYPE[alg];
  if (!expected || jwk.kty !== expected.kty || jwk.crv !== expected.crv) return fail(`proof jwk is not an ${alg} key`);

  let payload: Uint8Array;
  try {
    const key = await importJWK(jwk as JWK, alg);
    ({ payload } = await compactVerify(proof, key, { algorithms: [alg] }));
  } catch {
    return fail("proof signature verification failed");
  }
  let json: unknown;
  try {
    json = JSON.parse(strictUtf8.decode(payload));
  } catch {
    return fail("proof payload is not UTF-8 JSON");
  }
  const parsed = ProofClaimsSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return fail(`proof claims are malformed: ${issue?.path.join(".") || "payload"} ${issue?.message}`);
  }
  return { ok: true, jkt: await calculateJwkThumbprint(jwk as JWK, "sha256"), claims: parsed.data };
}

/**
 * Binds a verified proof to the request at hand (RFC 9449 §4.3): the capability's
 * key, this token (`ath`), this method and URL (query and fragment ignored), and
 * a fresh `iat`. Pure: `decide()` calls it with its `now`. The one-time `jti` is
 * the ledger's. Returns null when the proof is acceptable.
 */
export function dpopProblem(
  proof: { jkt: string; claims: DpopProofClaims },
  expected: { jkt: string; htm: string; htu: string; ath: string },
  nowSeconds: number,
  skewSeconds: number,
  maxAgeSeconds: number,
): string | null {
  const { claims } = proof;
  if (proof.jkt !== expected.jkt) return "proof is signed by another key than the capability is bound to";
  if (claims.ath !== expected.ath) return "proof is for another access token (ath)";
  if (claims.htm !== expected.htm) return `proof is for method ${claims.htm}, not ${expected.htm}`;
  if (!sameResource(claims.htu, expected.htu)) return "proof is for another URL (htu)";
  if (claims.iat - skewSeconds > nowSeconds) return "proof is issued in the future";
  if (nowSeconds - claims.iat > maxAgeSeconds + skewSeconds) return "proof is too old";
  return null;
}

function sameResource(a: string, b: string): boolean {
  if (!URL.canParse(a) || !URL.canParse(b)) return false;
  const [x, y] = [new URL(a), new URL(b)];
  return x.origin === y.origin && x.pathname === y.pathname;
}

/** ath: base64url SHA-256 of the ASCII access token (RFC 9449 §4.2). */
export function accessTokenHash(token: string): Promise<string> {
  return sha256(token);
}

/** For agents and tests: a proof for one request, signed with the holder's key. */
export async function createDpopProof(
  privateKey: CryptoKey,
  publicJwk: JWK,
  request: { htm: string; htu: string; accessToken: string; iat: number; jti?: string },
): Promise<string> {
  const { kty, crv, x, y } = publicJwk;
  const jwk = Object.fromEntries(Object.entries({ kty, crv, x, y }).filter(([, v]) => v !== undefined));
  const alg = kty === "OKP" ? "EdDSA" : "ES256";
  return new SignJWT({
    htm: request.htm,
    htu: request.htu,
    iat: request.iat,
    jti: request.jti ?? crypto.randomUUID(),
    ath: await accessTokenHash(request.accessToken),
  })
    .setProtectedHeader({ alg, typ: DPOP_TYP, jwk })
    .sign(privateKey);
}

function fail(message: string): DpopCheck {
  return { ok: false, message };
}
