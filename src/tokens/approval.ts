import { z } from "zod";
import { checkEvidence, keysByKid } from "./evidence.js";
import { TYP } from "./kinds.js";
import type { UnverifiedPasskeyApproval } from "./passkey.js";

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
});
export type ApprovalClaims = z.infer<typeof ApprovalClaimsSchema>;

/** Who approves: their id, the groups gates ask for, and how they appear as a sequence subject. */
export interface ApproverIdentity {
  id: string;
  groups: string[];
  subject?: string;
}

/**
 * A verified approval. The approver and their groups come from the key that
 * signed (configuration), never from the token, and are recorded as inputs.
 * The passkey form carries the whole assertion (`passkey`), so the receipt keeps
 * what `baton audit verify` re-verifies offline with the credential's public key.
 */
export type ApprovalCheck =
  | { ok: true; kid: string; digest: string; approver: ApproverIdentity; claims: ApprovalClaims }
  | PasskeyApprovalAccepted
  | { ok: false; digest: string; message: string };

export interface PasskeyApprovalAccepted {
  ok: true;
  method: "passkey";
  /** The registered credential that signed: the approver's, not revoked, when it was checked. */
  credential_id: string;
  digest: string;
  approver: ApproverIdentity;
  claims: ApprovalClaims;
  /** The form as presented, its assertion verified. */
  passkey: UnverifiedPasskeyApproval;
  /**
   * The authenticator's counter did not increase (WebAuthn L3 §6.1.1): a cloned authenticator,
   * or this very assertion again. The gate refuses it after its jti check, so a replay gets
   * REPLAY_NONCE and a fresh approval from a clone EVIDENCE_INVALID.
   */
  counter_regressed?: true;
}

/** An approver's key as configuration lists it: the approver is the key's owner. */
export interface ApproverKeyEntry {
  approver: ApproverIdentity;
  jwk: { alg: string };
  key: CryptoKey;
}

const APPROVAL = { typ: TYP.approval, schema: ApprovalClaimsSchema, ownerId: (approver: ApproverIdentity) => approver.id };

/**
 * Verifies an approval against the configured approver keys. Never throws. The
 * approver — identity, groups, subject — is the key's owner in the configuration;
 * an `iss` naming anyone else is refused.
 */
export async function checkApproval(token: string, keys: ReadonlyMap<string, ApproverKeyEntry>): Promise<ApprovalCheck> {
  const checked = await checkEvidence(token, APPROVAL, keysByKid(keys, (entry) => entry.approver));
  if (!checked.ok) return checked;
  const { kid, digest, owner, claims } = checked;
  const approver = { id: owner.id, groups: owner.groups, ...(owner.subject ? { subject: owner.subject } : {}) };
  return { ok: true, kid, digest, approver, claims };
}
