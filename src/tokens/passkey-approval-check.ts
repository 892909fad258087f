import type { ApprovalCheck, ApproverIdentity } from "./approval.js";
import { digestJson } from "./digest.js";
import { type UnverifiedPasskeyApproval, verifyPasskeyApproval } from "./passkey.js";

/** The approver's registered credential as the directory answered it, or why there is none to use. */
export type CredentialLookup = { id: string; publicKey: string; counter: number; rpId: string } | { refused: string };

export interface CheckPasskeyApprovalOptions {
  /** The approver the claims' `iss` names, from the configuration (their groups); undefined when none is configured. */
  approver: { id: string; groups: string[]; subject?: string | undefined } | undefined;
  credential: CredentialLookup;
  expectedOrigin: string[];
  expectedRpId: string;
}

/**
 * A passkey approval as the gate takes it: the same ApprovalCheck as a JWS one, so k of n,
 * separation of duties, rejection, expiry and the jti are decided alike. A failure is `ok: false`
 * (EVIDENCE_INVALID, receipted). Returns the counter to store once the ledger has decided.
 */
export async function checkPasskeyApproval(
  form: UnverifiedPasskeyApproval,
  options: CheckPasskeyApprovalOptions,
): Promise<{ check: ApprovalCheck; newCounter: number | null }> {
  const digest = await digestJson(form);
  const fail = (message: string) => ({ check: { ok: false as const, digest, message }, newCounter: null });
  const { approver, credential } = options;
  if (!approver) return fail(`iss ${form.claims.iss} is no configured approver`);
  if ("refused" in credential) return fail(credential.refused);
  if (credential.rpId !== options.expectedRpId) return fail(`the passkey was registered for ${credential.rpId}, not ${options.expectedRpId}`);
  // Verified with counter 0, so the library never refuses on the counter: the comparison is
  // made below and judged by the gate after the jti (see PasskeyApprovalAccepted).
  const verified = await verifyPasskeyApproval(form, {
    credential: { id: credential.id, publicKey: credential.publicKey, counter: 0 },
    expectedOrigin: options.expectedOrigin,
    expectedRpId: options.expectedRpId,
  });
  if (!verified.ok) return fail(verified.message);
  const identity: ApproverIdentity = { id: approver.id, groups: approver.groups, ...(approver.subject ? { subject: approver.subject } : {}) };
  const regressed = counterRegressed(credential.counter, verified.newCounter);
  return {
    check: {
      ok: true,
      method: "passkey",
      credential_id: credential.id,
      digest,
      approver: identity,
      claims: verified.claims,
      passkey: form,
      ...(regressed ? { counter_regressed: true as const } : {}),
    },
    newCounter: regressed ? null : verified.newCounter,
  };
}

/** WebAuthn L3 §6.1.1: with either counter non-zero, the reported one must exceed the stored one. */
export function counterRegressed(stored: number, reported: number): boolean {
  return (stored > 0 || reported > 0) && reported <= stored;
}
