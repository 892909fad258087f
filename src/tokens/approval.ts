import { z } from "zod";
import type { ApproverKey } from "../config/load.js";
import type { ApprovalCheck, ApprovalClaims } from "../policy/types.js";
import { sha256 } from "./digest.js";
import { verifyJws } from "./jws.js";
import { EVIDENCE_ALGORITHMS, TYP } from "./kinds.js";

const Seconds = z.int().nonnegative();

/** The claims of an approval (DESIGN.md, "Token formats", plus the digest of what is approved). */
export const ApprovalClaimsSchema = z.strictObject({
  iss: z.string().min(1).max(64),
  seq: z.string().min(1).max(256),
  stage: z.string().min(1).max(64),
  decision: z.enum(["approve", "reject"]),
  digest: z.string().regex(/^[A-Za-z0-9_-]{43}$/, "a base64url SHA-256"),
  iat: Seconds,
  exp: Seconds.optional(),
  jti: z.string().min(1).max(256),
  comment: z.string().max(500).optional(),
}) satisfies z.ZodType<ApprovalClaims, unknown>;

/**
 * Verifies an approval against the configured approver keys. Never throws. The
 * approver — identity, groups, subject — is the key's owner in the configuration;
 * an `iss` naming anyone else is refused.
 */
export async function checkApproval(token: string, keys: ReadonlyMap<string, ApproverKey>): Promise<ApprovalCheck> {
  const digest = await sha256(token);
  const jws = await verifyJws(token, {
    typ: TYP.approval,
    algorithms: EVIDENCE_ALGORITHMS,
    resolveKey: (kid) => {
      const found = keys.get(kid);
      return found && { key: found.key, alg: found.jwk.alg };
    },
  });
  if (!jws.ok) return { ok: false, digest, message: jws.message };
  const parsed = ApprovalClaimsSchema.safeParse(jws.payload);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, digest, message: `claims are malformed: ${issue?.path.join(".")} ${issue?.message}` };
  }
  const owner = keys.get(jws.kid)?.approver;
  if (!owner || parsed.data.iss !== owner.id) {
    return { ok: false, digest, message: `iss ${parsed.data.iss} does not own key ${jws.kid}` };
  }
  const approver = { id: owner.id, groups: owner.groups, ...(owner.subject ? { subject: owner.subject } : {}) };
  return { ok: true, kid: jws.kid, digest, approver, claims: parsed.data };
}
