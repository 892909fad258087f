import { decodeJwt } from "jose";
import { z } from "zod";
import { jsonShapeProblem } from "../json-shape.js";
import { TOKEN_MAX_BYTES } from "../limits.js";
import { sha256 } from "./digest.js";
import { verifyJws } from "./jws.js";
import { WORKLOAD_ALGORITHMS } from "./oidc-issuer.js";
import { KeySetUnavailable, type KeySource } from "./remote-key-set.js";

/**
 * The `typ` of third parties' tokens: ID tokens and GitHub's carry `JWT`, RFC 9068 access
 * tokens `at+jwt`, Kubernetes service-account tokens none. Other typed kinds an issuer signs
 * (logout tokens, introspection answers) are refused.
 */
export const WORKLOAD_TYPS = ["jwt", "at+jwt", null] as const;
/** GitHub's tokens name their key by certificate thumbprint too; it is ignored, the `kid` alone picks the key. */
const IGNORED_HEADERS = ["x5t"] as const;

const Seconds = z.int().nonnegative();
const Audience = z.string().min(1).max(512);

/**
 * The claims of a workload token (RFC 7519 §4.1), every other claim kept for the gate's
 * CEL. `exp` is required (a workload token that never expires is a standing credential)
 * and `jti` too (without it the token could not be spent once).
 */
export const WorkloadClaimsSchema = z
  .looseObject({
    iss: z.string().min(1).max(256),
    sub: z.string().max(1024).optional(),
    aud: z.union([Audience, z.array(Audience).min(1).max(16)]),
    iat: Seconds,
    nbf: Seconds.optional(),
    exp: Seconds,
    jti: z.string().min(1).max(256),
  })
  .superRefine((claims, ctx) => {
    const problem = jsonShapeProblem(claims);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });
export type WorkloadClaims = z.infer<typeof WorkloadClaimsSchema>;

/** An attester declared by its OIDC issuer, as the checks need it (configuration holds it). */
export interface WorkloadIssuer {
  attester: string;
  /** The exact `iss` of its tokens. */
  issuer: string;
  /** Baton's audience for it; a token is for one sequence, `<audience>/v1/sequences/<id>`. */
  audience: string;
  /** Claims every token of this attester must carry with exactly these values (e.g. the repository owner's id). */
  claims: Readonly<Record<string, string | number | boolean>>;
  algorithms: readonly string[];
}

/** A workload token verified against its issuer's keys: everything a receipt must carry for an offline audit. */
export const VerifiedWorkloadTokenSchema = z.strictObject({
  ok: z.literal(true),
  method: z.literal("oidc"),
  /** The attester (configuration's id) the token's issuer is. */
  attester: z.string().min(1),
  issuer: z.string().min(1),
  audience: z.string().min(1),
  /** The sequence the token's audience names. */
  seq: z.string().min(1),
  kid: z.string().min(1),
  alg: z.enum(WORKLOAD_ALGORITHMS),
  /** The issuer's public key that verified it, as fetched: the auditor cannot fetch it later. */
  jwk: z.looseObject({ kty: z.string(), kid: z.string(), alg: z.string() }),
  digest: z.string(),
  /** The token itself, so its signature can be re-verified offline; spent, and for this sequence only. */
  token: z.string().max(TOKEN_MAX_BYTES),
  claims: WorkloadClaimsSchema,
});
export type VerifiedWorkloadToken = z.infer<typeof VerifiedWorkloadTokenSchema>;
export type WorkloadTokenCheck = VerifiedWorkloadToken | { ok: false; digest: string; message: string };

/** The audience that binds a workload token to one sequence: the sequence's own URL under Baton's audience. */
export function sequenceAudience(audience: string, seq: string): string {
  return `${audience}/v1/sequences/${seq}`;
}

/**
 * The `iss` of a token, read without verifying anything: only to choose which check
 * verifies it (a workload token's issuer, or Baton's attestation keys). Null for junk.
 */
export function unverifiedIssuer(token: string): string | null {
  try {
    const { iss } = decodeJwt(token);
    return typeof iss === "string" ? iss : null;
  } catch {
    return null;
  }
}

/**
 * Verifies a workload token (a GitHub Actions OIDC token, a Kubernetes service-account
 * token...) against its issuer's keys: the strict JWS pipeline every token goes through,
 * the attester's algorithms, the exact `iss`, an `aud` naming one sequence under Baton's
 * audience, and the attester's required claims. Time claims are left to `decide()`,
 * which has `now`. Never throws: an issuer that cannot be reached (and has no cached
 * key) is a failed check like a bad signature, which `decide()` turns into a receipted
 * EVIDENCE_INVALID.
 */
export async function checkWorkloadToken(token: string, issuer: WorkloadIssuer, keys: KeySource): Promise<WorkloadTokenCheck> {
  const digest = await sha256(token);
  const fail = (message: string) => ({ ok: false as const, digest, message });
  let found: Awaited<ReturnType<KeySource["key"]>>;
  const jws = await verifyJws(token, {
    typ: WORKLOAD_TYPS,
    algorithms: issuer.algorithms,
    ignoredHeaders: IGNORED_HEADERS,
    resolveKey: async (kid) => {
      try {
        found = await keys.key(kid);
      } catch (error) {
        if (!(error instanceof KeySetUnavailable)) throw error;
        return { refused: `issuer ${issuer.issuer} cannot be reached and none of its keys is cached (${error.message})` };
      }
      return found && { key: found.key, alg: found.alg };
    },
  });
  if (!jws.ok) return fail(jws.message);
  const parsed = WorkloadClaimsSchema.safeParse(jws.payload);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return fail(`claims are malformed: ${issue?.path.join(".")} ${issue?.message}`);
  }
  const claims = parsed.data;
  if (claims.iss !== issuer.issuer) return fail(`iss ${claims.iss} is not ${issuer.issuer}, the issuer of attester ${issuer.attester}`);
  const prefix = sequenceAudience(issuer.audience, "");
  const sequences = new Set([claims.aud].flat().filter((aud) => aud.startsWith(prefix)).map((aud) => aud.slice(prefix.length)));
  if (sequences.size !== 1) {
    const why = sequences.size === 0 ? `names no sequence under Baton's audience ${issuer.audience}` : "names more than one sequence";
    return fail(`aud ${JSON.stringify(claims.aud)} ${why} (${prefix}<sequence id>)`);
  }
  const [seq] = sequences as Set<string>;
  if (!seq || seq.includes("/")) return fail(`aud ${JSON.stringify(claims.aud)} does not name a sequence (${prefix}<sequence id>)`);
  for (const [name, value] of Object.entries(issuer.claims)) {
    if (claims[name] !== value) return fail(`claim ${name} is ${JSON.stringify(claims[name]) ?? "missing"}; attester ${issuer.attester} requires ${JSON.stringify(value)}`);
  }
  const { kid } = jws;
  const verified = found as NonNullable<typeof found>;
  const alg = verified.alg as VerifiedWorkloadToken["alg"];
  const jwk = { ...verified.jwk, kty: String(verified.jwk.kty), kid, alg };
  return { ok: true, method: "oidc", attester: issuer.attester, issuer: issuer.issuer, audience: issuer.audience, seq, kid, alg, jwk, digest, token, claims };
}
