import {
  type JWK,
  type JWSHeaderParameters,
  SignJWT,
  base64url,
  calculateJwkThumbprint,
  compactVerify,
  decodeProtectedHeader,
  importJWK,
} from "jose";
import { z } from "zod";
import { TOKEN_MAX_BYTES } from "../limits.js";
import { sha256 } from "./digest.js";
import { hasDuplicateMembers } from "./strict-json.js";
import { isCanonicalBase64url } from "./jws.js";
import { EVIDENCE_ALGORITHMS } from "./kinds.js";

/** Longest `htm` accepted: HTTP method names are short tokens (RFC 9110 §9). */
const DPOP_HTM_MAX_CHARS = 16;
/** Longest `htu` accepted; longer target URIs are refused rather than compared. */
const DPOP_HTU_MAX_CHARS = 2048;
/** Longest `jti` accepted; it is stored once per proof by the ledger, so it stays small. */
const DPOP_JTI_MAX_CHARS = 256;
/** Length of an unpadded base64url SHA-256 (`ath`): 32 bytes → 43 characters. */
const SHA256_BASE64URL_CHARS = 43;

/** RFC 9449 §4.2: the `typ` of a DPoP proof. */
export const DPOP_TYP = "dpop+jwt";

export interface DpopProofClaims {
  htm: string;
  htu: string;
  iat: number;
  jti: string;
  ath: string;
  exp?: number | undefined;
}

export type DpopCheck = { ok: true; jkt: string; claims: DpopProofClaims } | { ok: false; message: string };

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/**
 * Header parameters that would point at other keys or change processing
 * (RFC 7515 §4.1, RFC 7797): refused, as for every Baton JWS. `jwk` is the one
 * key-carrying header a DPoP proof must have (RFC 9449 §4.2).
 */
const REFUSED_HEADERS = ["jku", "x5u", "x5c", "x5t", "x5t#S256", "crit", "b64"] as const;
/** Members of a private or symmetric JWK (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2): a proof carries a public key only. */
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] as const;
/** The only key type and curve each accepted algorithm may use, so the header cannot pair them freely. */
const KEY_TYPE: Readonly<Record<(typeof EVIDENCE_ALGORITHMS)[number], { kty: string; crv: string }>> = {
  EdDSA: { kty: "OKP", crv: "Ed25519" },
  ES256: { kty: "EC", crv: "P-256" },
};
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

const HttpUrl = z
  .string()
  .max(DPOP_HTU_MAX_CHARS)
  .refine((value) => httpUrl(value) !== null, "must be an absolute http(s) URL");

const ProofClaimsSchema = z.object({
  htm: z.string().min(1).max(DPOP_HTM_MAX_CHARS),
  htu: HttpUrl,
  iat: z.int().nonnegative(),
  jti: z.string().min(1).max(DPOP_JTI_MAX_CHARS),
  ath: z.string().regex(new RegExp(`^[A-Za-z0-9_-]{${SHA256_BASE64URL_CHARS}}$`), "must be a base64url SHA-256"),
  // RFC 9449 does not define exp on proofs; one that carries it is held to it.
  exp: z.int().nonnegative().optional(),
});

/**
 * Verifies a DPoP proof's shape and signature with the key it embeds (that is
 * the point of DPoP: the capability's `cnf.jkt` says which key must sign, and
 * `dpopProblem` in policy/dpop-binding.ts compares the two). No clock and no binding here. Never throws.
 */
export async function checkDpopProof(proof: unknown): Promise<DpopCheck> {
  try {
    return await check(proof);
  } catch {
    // Every step below catches its own errors; this is a last guard for the "never throws" promise.
    return fail("proof could not be checked");
  }
}

async function check(proof: unknown): Promise<DpopCheck> {
  if (typeof proof !== "string") return fail("proof is not a string");
  if (proof.length > TOKEN_MAX_BYTES) return fail(`proof is longer than ${TOKEN_MAX_BYTES} bytes`);
  if (!COMPACT_JWS.test(proof)) return fail("proof is not a compact JWS");
  // jose accepts base64url whose unused trailing bits are set; refuse the second spelling.
  if (!proof.split(".").every(isCanonicalBase64url)) return fail("proof is not canonical base64url");

  let header: JWSHeaderParameters;
  try {
    header = decodeProtectedHeader(proof) as JWSHeaderParameters;
  } catch {
    return fail("proof header is not valid base64url JSON");
  }
  if (hasDuplicateMembers(strictUtf8.decode(base64url.decode(proof.slice(0, proof.indexOf(".")))))) {
    return fail("proof header repeats a member name");
  }
  if (typeof header.typ !== "string" || header.typ.toLowerCase() !== DPOP_TYP) return fail(`proof typ must be ${DPOP_TYP}`);
  const alg = header.alg;
  if (!isEvidenceAlgorithm(alg)) return fail(`proof algorithm ${String(alg)} is not accepted`);
  for (const name of REFUSED_HEADERS) {
    if (name in header) return fail(`proof header parameter ${name} is not accepted`);
  }

  const jwk: unknown = header.jwk;
  if (jwk === undefined) return fail("proof has no jwk header");
  if (jwk === null || typeof jwk !== "object" || Array.isArray(jwk)) return fail("proof jwk header is not a JSON object");
  const members = jwk as Record<string, unknown>;
  if (PRIVATE_MEMBERS.some((member) => member in members)) return fail("proof jwk must be a public key");
  const expected = KEY_TYPE[alg];
  if (members.kty !== expected.kty || members.crv !== expected.crv) {
    return fail(`proof jwk must be a ${expected.kty} ${expected.crv} key for ${alg}`);
  }
  if ("alg" in members && members.alg !== alg) return fail(`proof jwk is for ${String(members.alg)}, not ${alg}`);

  let key: CryptoKey;
  try {
    key = (await importJWK(members as JWK, alg)) as CryptoKey;
  } catch {
    return fail("proof jwk is not a valid public key");
  }
  let payload: Uint8Array;
  try {
    ({ payload } = await compactVerify(proof, key, { algorithms: [alg] }));
  } catch {
    return fail("proof signature verification failed");
  }
  let json: unknown;
  try {
    const text = strictUtf8.decode(payload);
    json = JSON.parse(text);
    if (hasDuplicateMembers(text)) return fail("proof payload repeats a member name");
  } catch {
    return fail("proof payload is not UTF-8 JSON");
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) return fail("proof payload is not a JSON object");
  const parsed = ProofClaimsSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const claim = issue?.path.map(String).join(".") || "payload";
    return fail(`proof claim ${claim} is missing or malformed${issue ? `: ${issue.message}` : ""}`);
  }
  let jkt: string;
  try {
    jkt = await calculateJwkThumbprint(members as JWK, "sha256");
  } catch {
    return fail("proof jwk has no thumbprint");
  }
  return { ok: true, jkt, claims: parsed.data };
}

/** `value` parsed, when it is an absolute http(s) URL; the DPoP binding compares `htu`s by it. */
export function httpUrl(value: string): URL | null {
  if (!URL.canParse(value)) return null;
  const url = new URL(value);
  return url.protocol === "https:" || url.protocol === "http:" ? url : null;
}

function isEvidenceAlgorithm(alg: unknown): alg is (typeof EVIDENCE_ALGORITHMS)[number] {
  return typeof alg === "string" && (EVIDENCE_ALGORITHMS as readonly string[]).includes(alg);
}

/** ath: base64url SHA-256 of the ASCII access token (RFC 9449 §4.2). */
export function accessTokenHash(token: string): Promise<string> {
  return sha256(token);
}

/** For agents and tests: a proof for one request, signed with the holder's key (`publicJwk` is its public JWK). */
export async function createDpopProof(
  privateKey: CryptoKey,
  publicJwk: JWK,
  request: { htm: string; htu: string; accessToken: string; iat: number; jti?: string },
): Promise<string> {
  const { kty, crv, x, y } = publicJwk;
  const alg = (Object.keys(KEY_TYPE) as (keyof typeof KEY_TYPE)[]).find((name) => KEY_TYPE[name].kty === kty && KEY_TYPE[name].crv === crv);
  if (!alg) throw new TypeError(`a DPoP key must be Ed25519 or P-256, not ${String(kty)} ${String(crv)}`);
  // Only the public members: never copy `d` (or `kid`, `use`, ...) into the header.
  const jwk = kty === "EC" ? { kty, crv, x, y } : { kty, crv, x };
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
