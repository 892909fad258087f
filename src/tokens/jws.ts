import { type JWSHeaderParameters, base64url, compactVerify } from "jose";
import { TOKEN_MAX_BYTES } from "../limits.js";
import { hasDuplicateMembers } from "./strict-json.js";

export interface ResolvedKey {
  key: CryptoKey;
  alg: string;
}

export interface VerifyJwsOptions {
  typ: string;
  algorithms: readonly string[];
  /**
   * Looks a key up by the verified header's `kid` (the header is passed too, as jose's
   * JWTVerifyGetKey receives it); a kid it does not know is a failure, never a fallback.
   * Called only once the token's shape and header have passed, so junk costs no look-up.
   */
  resolveKey(kid: string, header: JWSHeaderParameters): ResolvedKey | undefined | Promise<ResolvedKey | undefined>;
}

export type JwsResult =
  | { ok: true; kid: string; header: JWSHeaderParameters; payload: Record<string, unknown> }
  | { ok: false; message: string };

/**
 * Header parameters that would let the token choose its own key or change how
 * it is processed (RFC 7515 §4.1.2-4.1.6, §4.1.11; RFC 7797). Baton trusts only
 * configured keys, so any of these is refused rather than silently ignored.
 */
const REFUSED_HEADERS = ["jwk", "jku", "x5u", "x5c", "x5t", "x5t#S256", "crit", "b64"] as const;

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/**
 * Verifies a compact JWS strictly: size, shape, `alg` allow-list, exact `typ`,
 * a known `kid` whose key's algorithm matches the header, the signature, and a
 * JSON object payload. Time claims are left to `decide()`, which has `now`.
 */
export async function verifyJws(token: unknown, options: VerifyJwsOptions): Promise<JwsResult> {
  if (typeof token !== "string") return fail("token is not a string");
  if (token.length > TOKEN_MAX_BYTES) return fail(`token is longer than ${TOKEN_MAX_BYTES} bytes`);
  if (token.endsWith(".") && COMPACT_JWS.test(`${token}A`)) return fail("token is unsigned (its signature part is empty)");
  if (!COMPACT_JWS.test(token)) return fail("token is not a compact JWS");
  // jose accepts base64url whose unused trailing bits are set; such a second
  // spelling of the same token would also hash differently. Refuse it.
  if (!token.split(".").every(hasCanonicalTail)) return fail("token is not canonical base64url");

  // The header is decoded once, strictly: UTF-8, a JSON object, no repeated member.
  let header: JWSHeaderParameters;
  try {
    const text = strictUtf8.decode(base64url.decode(token.slice(0, token.indexOf("."))));
    header = JSON.parse(text);
    if (hasDuplicateMembers(text)) return fail("protected header repeats a member name");
  } catch {
    return fail("protected header is not valid base64url JSON");
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) return fail("protected header is not a JSON object");
  if (typeof header.alg !== "string" || !options.algorithms.includes(header.alg)) {
    return fail(`algorithm ${String(header.alg)} is not accepted`);
  }
  if (typeof header.typ !== "string" || header.typ.toLowerCase() !== options.typ) {
    return fail(`typ must be ${options.typ}`);
  }
  for (const name of REFUSED_HEADERS) {
    if (name in header) return fail(`header parameter ${name} is not accepted`);
  }
  if (typeof header.kid !== "string" || header.kid.length === 0) return fail("kid is missing");
  const resolved = await options.resolveKey(header.kid, header);
  if (!resolved) return fail(`unknown key id ${header.kid}`);
  // The key decides the algorithm, never the token (algorithm confusion, RFC 8725 §2.1).
  if (resolved.alg !== header.alg) return fail(`key ${header.kid} is not an ${header.alg} key`);

  let bytes: Uint8Array;
  try {
    ({ payload: bytes } = await compactVerify(token, resolved.key, { algorithms: [resolved.alg] }));
  } catch {
    return fail("signature verification failed");
  }
  let payload: unknown;
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
    payload = JSON.parse(text);
  } catch {
    return fail("payload is not UTF-8 JSON");
  }
  if (hasDuplicateMembers(text)) return fail("payload repeats a member name");
  if (payload === null || typeof payload !== "object" || Array.isArray(payload)) {
    return fail("payload is not a JSON object");
  }
  return { ok: true, kid: header.kid, header, payload: payload as Record<string, unknown> };
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/**
 * Whether a base64url segment (no padding) is the one spelling of its bytes: a
 * length that encodes whole bytes, and the unused low bits of the last character
 * zero (RFC 4648 §3.5). Constant time in the segment's length, after the charset check.
 */
export function isCanonicalBase64url(segment: string): boolean {
  return BASE64URL.test(segment) && hasCanonicalTail(segment);
}

/** The length and last-character rule of a canonical base64url segment whose characters are already known to be of the alphabet. */
function hasCanonicalTail(segment: string): boolean {
  const rest = segment.length % 4;
  if (rest === 1) return false;
  if (rest === 0) return true;
  const last = ALPHABET.indexOf(segment[segment.length - 1] as string);
  return (last & (rest === 2 ? 0b1111 : 0b11)) === 0;
}

function fail(message: string): JwsResult {
  return { ok: false, message };
}
