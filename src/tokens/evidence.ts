import type { JWSHeaderParameters } from "jose";
import type { z } from "zod";
import { sha256 } from "./digest.js";
import { type ResolvedKey, verifyJws } from "./jws.js";
import { EVIDENCE_ALGORITHMS } from "./kinds.js";

/** A verification key and whose it is: the owner, not a claim, says who signed. */
export interface OwnedKey<Owner> extends ResolvedKey {
  owner: Owner;
}

/**
 * The port through which evidence checks find keys (like jose's JWTVerifyGetKey):
 * the key a `kid` names, or nothing. Configuration implements it; tokens never read it.
 */
export type EvidenceKeyResolver<Owner> = (kid: string, header: JWSHeaderParameters) => OwnedKey<Owner> | undefined | Promise<OwnedKey<Owner> | undefined>;

/** What differs between evidence kinds (attestations, approvals): their `typ`, their claims, and how an owner is named in `iss`. */
export interface EvidenceKind<Claims extends { iss: string }, Owner> {
  typ: string;
  schema: z.ZodType<Claims, unknown>;
  ownerId(owner: Owner): string;
}

export type EvidenceCheck<Claims, Owner> =
  | { ok: true; kid: string; digest: string; owner: Owner; claims: Claims }
  | { ok: false; digest: string; message: string };

/**
 * Verifies a piece of evidence signed by a third party's key. Never throws: a
 * failure becomes a check result that `decide()` turns into a receipted refusal.
 * The signer is the key's owner; an `iss` that names anyone else is refused.
 */
export async function checkEvidence<Claims extends { iss: string }, Owner>(
  token: string,
  kind: EvidenceKind<Claims, Owner>,
  resolve: EvidenceKeyResolver<Owner>,
): Promise<EvidenceCheck<Claims, Owner>> {
  const digest = await sha256(token);
  let owner: Owner | undefined;
  const jws = await verifyJws(token, {
    typ: kind.typ,
    algorithms: EVIDENCE_ALGORITHMS,
    resolveKey: async (kid, header) => {
      const found = await resolve(kid, header);
      owner = found?.owner;
      return found && { key: found.key, alg: found.alg };
    },
  });
  if (!jws.ok) return { ok: false, digest, message: jws.message };
  const parsed = kind.schema.safeParse(jws.payload);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, digest, message: `claims are malformed: ${issue?.path.join(".")} ${issue?.message}` };
  }
  if (owner === undefined || parsed.data.iss !== kind.ownerId(owner)) {
    return { ok: false, digest, message: `iss ${parsed.data.iss} does not own key ${jws.kid}` };
  }
  return { ok: true, kid: jws.kid, digest, owner, claims: parsed.data };
}

/** A key set by kid, as configuration holds it, as a resolver. */
export function keysByKid<Entry extends { key: CryptoKey; jwk: { alg: string } }, Owner>(
  keys: ReadonlyMap<string, Entry>,
  ownerOf: (entry: Entry) => Owner,
): EvidenceKeyResolver<Owner> {
  return (kid) => {
    const found = keys.get(kid);
    return found && { key: found.key, alg: found.jwk.alg, owner: ownerOf(found) };
  };
}
