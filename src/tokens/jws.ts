import { type JWSHeaderParameters, base64url, compactVerify } from "jose";
import { TOKEN_MAX_BYTES } from "../limits.js";
import { hasDuplicateMembers } from "./strict-json.js";

export interface ResolvedKey {
  key: CryptoKey;
  alg: string;
}

/**
 * What a key resolver answers: the key, nothing (an unknown key: a failure, never a
 * fallback), or why the header's key is refused (an embedded key that is not acceptable).
 */
export type KeyLookup = ResolvedKey | { refused: string } | undefined;

type Awaitable<T> = T | Promise<T>;

/**
 * The refusal messages of one token kind, by fault. Every kind shares the checks; the
 * words are the caller's, so a DPoP proof says "proof …" where a token says "token …".
 */
export interface JwsMessages {
  notString: string;
  tooLong: string;
  /** A compact form whose signature part is empty (an `alg: none` token). */
  unsigned: string;
  notCompact: string;
  notCanonical: string;
  headerNotJson: string;
  headerRepeats: string;
  headerNotObject: string;
  algorithm(alg: string): string;
  typ(typ: string): string;
  refusedHeader(name: string): string;
  signature: string;
  payloadNotJson: string;
  payloadRepeats: string;
  payloadNotObject: string;
}

/** The words of every Baton token (capability, attestation, approval, receipt, head, signal). */
export const TOKEN_MESSAGES: JwsMessages = {
  notString: "token is not a string",
  tooLong: `token is longer than ${TOKEN_MAX_BYTES} bytes`,
  unsigned: "token is unsigned (its signature part is empty)",
  notCompact: "token is not a compact JWS",
  notCanonical: "token is not canonical base64url",
  headerNotJson: "protected header is not valid base64url JSON",
  headerRepeats: "protected header repeats a member name",
  headerNotObject: "protected header is not a JSON object",
  algorithm: (alg) => `algorithm ${alg} is not accepted`,
  typ: (typ) => `typ must be ${typ}`,
  refusedHeader: (name) => `header parameter ${name} is not accepted`,
  signature: "signature verification failed",
  payloadNotJson: "payload is not UTF-8 JSON",
  payloadRepeats: "payload repeats a member name",
  payloadNotObject: "payload is not a JSON object",
};

interface CommonOptions {
  /**
   * The `typ` required, lowercase (compared case-insensitively, RFC 7515 §4.1.9); or the
   * ones a third party's tokens may carry, where `null` accepts a header without `typ`.
   */
  typ: string | readonly (string | null)[];
  algorithms: readonly string[];
  /** Refusal messages (default: TOKEN_MESSAGES). */
  messages?: JwsMessages;
  /** Longest token accepted (default TOKEN_MAX_BYTES; `messages.tooLong` should say the same). */
  maxBytes?: number;
  /**
   * Members of REFUSED_HEADERS tolerated and ignored, for a third party that sends them
   * (GitHub's workload tokens carry `x5t`): never read, so they cannot choose the key.
   */
  ignoredHeaders?: readonly string[];
}

/** A token signed by a key the verifier holds, named by the header's `kid`. */
export interface VerifyJwsOptions extends CommonOptions {
  /**
   * Looks a key up by the verified header's `kid` (the header is passed too, as jose's
   * JWTVerifyGetKey receives it); a kid it does not know is a failure, never a fallback.
   * Called only once the token's shape and header have passed, so junk costs no look-up.
   */
  resolveKey(kid: string, header: JWSHeaderParameters): Awaitable<KeyLookup>;
}

/**
 * A token that carries its own key in the `jwk` header (a DPoP proof, RFC 9449 §4.2):
 * `jwk` is accepted, no `kid` is needed, and the resolver reads the key from the header.
 * Whom that key must belong to is the caller's check (the capability's `cnf.jkt`).
 */
export interface VerifyEmbeddedKeyJwsOptions extends CommonOptions {
  embeddedKey(header: JWSHeaderParameters): Awaitable<KeyLookup>;
}

export type JwsResult =
  | { ok: true; kid: string; header: JWSHeaderParameters; payload: Record<string, unknown> }
  | { ok: false; message: string };

export type EmbeddedKeyJwsResult =
  | { ok: true; header: JWSHeaderParameters; payload: Record<string, unknown> }
  | { ok: false; message: string };

/**
 * Header parameters that would let the token choose its own key or change how
 * it is processed (RFC 7515 §4.1.2-4.1.6, §4.1.11; RFC 7797). Baton trusts only
 * configured keys, so any of these is refused rather than silently ignored —
 * except `jwk` for a token whose key is embedded by design (DPoP).
 */
const REFUSED_HEADERS = ["jwk", "jku", "x5u", "x5c", "x5t", "x5t#S256", "crit", "b64"] as const;

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/**
 * Verifies a compact JWS strictly: size, shape, `alg` allow-list, exact `typ`,
 * a known key whose algorithm matches the header, the signature, and a JSON
 * object payload. Time claims are left to `decide()`, which has `now`. Every
 * token kind and DPoP proof goes through here; only the key step and the words differ.
 */
export function verifyJws(token: unknown, options: VerifyEmbeddedKeyJwsOptions): Promise<EmbeddedKeyJwsResult>;
export function verifyJws(token: unknown, options: VerifyJwsOptions): Promise<JwsResult>;
export async function verifyJws(
  token: unknown,
  options: VerifyJwsOptions | VerifyEmbeddedKeyJwsOptions,
): Promise<JwsResult | EmbeddedKeyJwsResult> {
  const words = options.messages ?? TOKEN_MESSAGES;
  const fail = (message: string) => ({ ok: false as const, message });
  if (typeof token !== "string") return fail(words.notString);
  if (token.length > (options.maxBytes ?? TOKEN_MAX_BYTES)) return fail(words.tooLong);
  if (!isCompactJws(token)) return fail(isCompactJws(token, { unsigned: true }) ? words.unsigned : words.notCompact);
  // jose accepts base64url whose unused trailing bits are set; such a second
  // spelling of the same token would also hash differently. Refuse it.
  if (!token.split(".").every(hasCanonicalTail)) return fail(words.notCanonical);

  // The header is decoded once, strictly: UTF-8, a JSON object, no repeated member.
  let header: JWSHeaderParameters;
  try {
    const text = strictUtf8.decode(base64url.decode(token.slice(0, token.indexOf("."))));
    header = JSON.parse(text);
    if (hasDuplicateMembers(text)) return fail(words.headerRepeats);
  } catch {
    return fail(words.headerNotJson);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) return fail(words.headerNotObject);
  if (typeof header.alg !== "string" || !options.algorithms.includes(header.alg)) return fail(words.algorithm(String(header.alg)));
  const typs = typeof options.typ === "string" ? [options.typ] : options.typ;
  const typ = typeof header.typ === "string" ? header.typ.toLowerCase() : header.typ === undefined ? null : undefined;
  if (typ === undefined || !typs.includes(typ)) return fail(words.typ(typs.filter((t) => t !== null).join(" or ")));
  const embedded = "embeddedKey" in options;
  for (const name of REFUSED_HEADERS) {
    if (name in header && !(embedded && name === "jwk") && !options.ignoredHeaders?.includes(name)) return fail(words.refusedHeader(name));
  }

  let lookup: KeyLookup;
  if (embedded) {
    lookup = await options.embeddedKey(header);
  } else {
    if (typeof header.kid !== "string" || header.kid.length === 0) return fail("kid is missing");
    lookup = await options.resolveKey(header.kid, header);
    if (!lookup) return fail(`unknown key id ${header.kid}`);
  }
  if (!lookup) return fail(words.signature);
  if ("refused" in lookup) return fail(lookup.refused);
  // The key decides the algorithm, never the token (algorithm confusion, RFC 8725 §2.1).
  if (lookup.alg !== header.alg) return fail(`key ${String(header.kid)} is not an ${header.alg} key`);

  let bytes: Uint8Array;
  try {
    ({ payload: bytes } = await compactVerify(token, lookup.key, { algorithms: [lookup.alg] }));
  } catch {
    return fail(words.signature);
  }
  let payload: unknown;
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
    payload = JSON.parse(text);
  } catch {
    return fail(words.payloadNotJson);
  }
  if (hasDuplicateMembers(text)) return fail(words.payloadRepeats);
  if (payload === null || typeof payload !== "object" || Array.isArray(payload)) return fail(words.payloadNotObject);
  const verified = { header, payload: payload as Record<string, unknown> };
  return embedded ? { ok: true, ...verified } : { ok: true, kid: header.kid as string, ...verified };
}

/**
 * Whether text has the compact JWS form (RFC 7515 §7.1): three base64url parts, the
 * signature not empty — or, with `unsigned`, possibly empty, as an `alg: none` token has it.
 */
export function isCompactJws(text: string, options: { unsigned?: boolean } = {}): boolean {
  return COMPACT_JWS.test(text) || (options.unsigned === true && text.endsWith(".") && COMPACT_JWS.test(`${text}A`));
}

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** Whether a base64url segment (no padding) is the one spelling of its bytes (RFC 4648 §3.5). */
export function isCanonicalBase64url(segment: string): boolean {
  return BASE64URL.test(segment) && hasCanonicalTail(segment);
}

/**
 * Whether a base64url segment (no padding) whose characters are already known to be of
 * the alphabet is the one spelling of its bytes: a length that encodes whole bytes, and
 * the unused low bits of the last character zero (RFC 4648 §3.5).
 */
function hasCanonicalTail(segment: string): boolean {
  const rest = segment.length % 4;
  if (rest === 1) return false;
  if (rest === 0) return true;
  const last = ALPHABET.indexOf(segment[segment.length - 1] as string);
  return (last & (rest === 2 ? 0b1111 : 0b11)) === 0;
}
