import { type JWK, type JWSHeaderParameters, SignJWT, calculateJwkThumbprint, importJWK } from "jose";
import { z } from "zod";
import { TOKEN_MAX_BYTES } from "../limits.js";
import { sha256 } from "./digest.js";
import { type JwsMessages, type KeyLookup, verifyJws } from "./jws.js";
import { DPOP_ALGORITHMS, DPOP_TYP } from "./kinds.js";

export { DPOP_TYP };

/** Longest `htm` accepted: HTTP method names are short tokens (RFC 9110 §9). */
const DPOP_HTM_MAX_CHARS = 16;
/** Longest `htu` accepted; longer target URIs are refused rather than compared. */
const DPOP_HTU_MAX_CHARS = 2048;
/** Longest `jti` accepted; it is stored once per proof by the ledger, so it stays small. */
const DPOP_JTI_MAX_CHARS = 256;
/** Length of an unpadded base64url SHA-256 (`ath`): 32 bytes → 43 characters. */
const SHA256_BASE64URL_CHARS = 43;

/**
 * The JWS checks' words for a proof. Two faults keep the wording this check always had:
 * an empty signature part is "not a compact JWS" (a token says "unsigned"), and a header
 * that is JSON but not an object is "not valid base64url JSON".
 */
const PROOF_MESSAGES: JwsMessages = {
  notString: "proof is not a string",
  tooLong: `proof is longer than ${TOKEN_MAX_BYTES} bytes`,
  unsigned: "proof is not a compact JWS",
  notCompact: "proof is not a compact JWS",
  notCanonical: "proof is not canonical base64url",
  headerNotJson: "proof header is not valid base64url JSON",
  headerRepeats: "proof header repeats a member name",
  headerNotObject: "proof header is not valid base64url JSON",
  algorithm: (alg) => `proof algorithm ${alg} is not accepted`,
  typ: (typ) => `proof typ must be ${typ}`,
  refusedHeader: (name) => `proof header parameter ${name} is not accepted`,
  signature: "proof signature verification failed",
  payloadNotJson: "proof payload is not UTF-8 JSON",
  payloadRepeats: "proof payload repeats a member name",
  payloadNotObject: "proof payload is not a JSON object",
};

/** Members of a private or symmetric JWK (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2): a proof carries a public key only. */
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] as const;
/** The only key type and curve each accepted algorithm may use, so the header cannot pair them freely. */
const KEY_TYPE: Readonly<Record<(typeof DPOP_ALGORITHMS)[number], { kty: string; crv: string }>> = {
  EdDSA: { kty: "OKP", crv: "Ed25519" },
  Ed25519: { kty: "OKP", crv: "Ed25519" },
  ES256: { kty: "EC", crv: "P-256" },
};

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

export type DpopProofClaims = z.infer<typeof ProofClaimsSchema>;

/**
 * RFC 9449 §5: a proof sent to the token endpoint. It names no access token in the grants the
 * RFC has in mind, so `ath` is optional there; a token exchange presents one (the subject
 * token), and a proof that names one must name that one (policy/dpop-binding.ts).
 */
const TokenRequestProofClaimsSchema = ProofClaimsSchema.extend({ ath: ProofClaimsSchema.shape.ath.optional() });
export type TokenRequestProofClaims = z.infer<typeof TokenRequestProofClaimsSchema>;

export type DpopCheck = { ok: true; jkt: string; claims: DpopProofClaims } | { ok: false; message: string };
export type TokenRequestDpopCheck = { ok: true; jkt: string; claims: TokenRequestProofClaims } | { ok: false; message: string };

/** A DPoP proof as the shell verified it and `decide()` receives it (binding and time are `decide()`'s). */
export type DpopPresentation = DpopCheck;

/**
 * Verifies a DPoP proof's shape and signature with the key it embeds (that is
 * the point of DPoP: the capability's `cnf.jkt` says which key must sign, and
 * `dpopProblem` in policy/dpop-binding.ts compares the two). No clock and no binding here. Never throws.
 */
export function checkDpopProof(proof: unknown): Promise<DpopCheck> {
  return guarded(proof, ProofClaimsSchema);
}

/** The same checks for a proof sent with a token request, whose `ath` is optional (RFC 9449 §5). Never throws. */
export function checkTokenRequestDpopProof(proof: unknown): Promise<TokenRequestDpopCheck> {
  return guarded(proof, TokenRequestProofClaimsSchema);
}

async function guarded<C>(proof: unknown, schema: z.ZodType<C>): Promise<{ ok: true; jkt: string; claims: C } | { ok: false; message: string }> {
  try {
    return await check(proof, schema);
  } catch {
    // Every step below catches its own errors; this is a last guard for the "never throws" promise.
    return fail("proof could not be checked");
  }
}

async function check<C>(proof: unknown, schema: z.ZodType<C>): Promise<{ ok: true; jkt: string; claims: C } | { ok: false; message: string }> {
  let jwk: JWK | undefined;
  const jws = await verifyJws(proof, {
    typ: DPOP_TYP,
    algorithms: DPOP_ALGORITHMS,
    messages: PROOF_MESSAGES,
    embeddedKey: async (header) => {
      const found = await embeddedKey(header);
      if (found && !("refused" in found)) jwk = header.jwk as JWK;
      return found;
    },
  });
  if (!jws.ok) return jws;
  const parsed = schema.safeParse(jws.payload);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const claim = issue?.path.map(String).join(".") || "payload";
    return fail(`proof claim ${claim} is missing or malformed${issue ? `: ${issue.message}` : ""}`);
  }
  let jkt: string;
  try {
    jkt = await calculateJwkThumbprint(jwk as JWK, "sha256");
  } catch {
    return fail("proof jwk has no thumbprint");
  }
  return { ok: true, jkt, claims: parsed.data };
}

/** The proof's `jwk` header as its verification key (RFC 9449 §4.2): a public key of the type its `alg` names. */
async function embeddedKey(header: JWSHeaderParameters): Promise<KeyLookup> {
  const alg = header.alg as (typeof DPOP_ALGORITHMS)[number];
  const jwk: unknown = header.jwk;
  if (jwk === undefined) return { refused: "proof has no jwk header" };
  if (jwk === null || typeof jwk !== "object" || Array.isArray(jwk)) return { refused: "proof jwk header is not a JSON object" };
  const members = jwk as Record<string, unknown>;
  if (PRIVATE_MEMBERS.some((member) => member in members)) return { refused: "proof jwk must be a public key" };
  const expected = KEY_TYPE[alg];
  if (members.kty !== expected.kty || members.crv !== expected.crv) {
    return { refused: `proof jwk must be a ${expected.kty} ${expected.crv} key for ${alg}` };
  }
  if ("alg" in members && members.alg !== alg) return { refused: `proof jwk is for ${String(members.alg)}, not ${alg}` };
  try {
    return { key: (await importJWK(members as JWK, alg)) as CryptoKey, alg };
  } catch {
    return { refused: "proof jwk is not a valid public key" };
  }
}

/** `value` parsed, when it is an absolute http(s) URL; the DPoP binding compares `htu`s by it. */
export function httpUrl(value: string): URL | null {
  if (!URL.canParse(value)) return null;
  const url = new URL(value);
  return url.protocol === "https:" || url.protocol === "http:" ? url : null;
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

function fail(message: string): { ok: false; message: string } {
  return { ok: false, message };
}
