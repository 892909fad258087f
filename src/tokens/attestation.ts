import { z } from "zod";
import { boundedJsonObject } from "../json-shape.js";
import type { AttesterKey } from "../config/load.js";
import type { AttestationCheck, AttestationClaims } from "../policy/types.js";
import { sha256 } from "./digest.js";
import { verifyJws } from "./jws.js";
import { EVIDENCE_ALGORITHMS, TYP } from "./kinds.js";

const Seconds = z.int().nonnegative();

/** The claims of an attestation (DESIGN.md, "Token formats"). */
export const AttestationClaimsSchema = z.object({
  iss: z.string().min(1).max(64),
  seq: z.string().min(1).max(256),
  stage: z.string().min(1).max(64),
  type: z.string().min(1).max(128),
  iat: Seconds,
  exp: Seconds.optional(),
  jti: z.string().min(1).max(256),
  facts: boundedJsonObject().default({}),
}) satisfies z.ZodType<AttestationClaims, unknown>;

/**
 * Verifies an attestation against the configured attester keys. Never throws:
 * a failure becomes an `AttestationCheck` that `decide()` turns into a receipted
 * EVIDENCE_INVALID. The attester's identity is the key's owner; an `iss` that
 * names anyone else is refused.
 */
export async function checkAttestation(token: string, keys: ReadonlyMap<string, AttesterKey>): Promise<AttestationCheck> {
  const digest = await sha256(token);
  const jws = await verifyJws(token, {
    typ: TYP.attestation,
    algorithms: EVIDENCE_ALGORITHMS,
    resolveKey: (kid) => {
      const found = keys.get(kid);
      return found && { key: found.key, alg: found.jwk.alg };
    },
  });
  if (!jws.ok) return { ok: false, digest, message: jws.message };
  const parsed = AttestationClaimsSchema.safeParse(jws.payload);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, digest, message: `claims are malformed: ${issue?.path.join(".")} ${issue?.message}` };
  }
  const owner = keys.get(jws.kid)?.attester;
  if (parsed.data.iss !== owner) {
    return { ok: false, digest, message: `iss ${parsed.data.iss} does not own key ${jws.kid}` };
  }
  return { ok: true, kid: jws.kid, digest, claims: parsed.data };
}
