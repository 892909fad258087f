import { z } from "zod";
import { boundedJsonObject } from "../json-shape.js";
import { checkEvidence, keysByKid } from "./evidence.js";
import { TYP } from "./kinds.js";

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
});
export type AttestationClaims = z.infer<typeof AttestationClaimsSchema>;

/** The outcome of signature verification, done by the shell before `decide()`. */
export type AttestationCheck =
  | { ok: true; kid: string; digest: string; claims: AttestationClaims }
  | { ok: false; digest: string; message: string };

/** An attester's key as configuration lists it: the attester (its id) is the key's owner. */
export interface AttesterKeyEntry {
  attester: string;
  jwk: { alg: string };
  key: CryptoKey;
}

const ATTESTATION = { typ: TYP.attestation, schema: AttestationClaimsSchema, ownerId: (attester: string) => attester };

/**
 * Verifies an attestation against the configured attester keys. Never throws:
 * a failure becomes an `AttestationCheck` that `decide()` turns into a receipted
 * EVIDENCE_INVALID. The attester's identity is the key's owner; an `iss` that
 * names anyone else is refused.
 */
export async function checkAttestation(token: string, keys: ReadonlyMap<string, AttesterKeyEntry>): Promise<AttestationCheck> {
  const checked = await checkEvidence(token, ATTESTATION, keysByKid(keys, (entry) => entry.attester));
  if (!checked.ok) return checked;
  const { kid, digest, claims } = checked;
  return { ok: true, kid, digest, claims };
}
