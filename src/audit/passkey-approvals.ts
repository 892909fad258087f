import { type CredentialLogVerdict, type LoggedCredential, verifyCredentialLog } from "../tokens/credential-log.js";
import { canonicalJson } from "../tokens/digest.js";
import { PasskeyApprovalSchema, verifyPasskeyApproval } from "../tokens/passkey.js";
import type { ReceiptClaims } from "../tokens/receipt.js";

/** What `GET /v1/approvers/credentials` answers (and an evidence bundle's `credentials` holds). */
export interface CredentialListing {
  passkeys?: { rp_id?: string; origins?: string[] };
  log?: string[];
}

/**
 * Re-verifies the passkey approvals of a chain offline: each one's assertion from the form the
 * receipt recorded and the public key the credential log (signed by the service, checked here)
 * establishes; the credential must be the approver's and live at the receipt's time. The
 * unsigned rows of a listing are never read: only its signed log and the RP's origins.
 * Counters are not compared: one credential's counter advances across sequences, and the
 * gate's own judgement (counter_regressed) is replayed by decide() from the receipt.
 */
export class PasskeyApprovalAuditor {
  private constructor(
    private readonly credentials: ReadonlyMap<string, LoggedCredential>,
    private readonly origins: string[],
  ) {}

  /** Builds the auditor from a credentials listing, or says why the listing cannot be trusted. */
  static async fromListing(
    listing: CredentialListing,
    resolveKey: (kid: string) => { key: CryptoKey; alg: string } | undefined,
  ): Promise<{ ok: true; auditor: PasskeyApprovalAuditor } | { ok: false; reason: string }> {
    if (!Array.isArray(listing.log)) return { ok: false, reason: "the credentials listing has no signed log" };
    const origins = listing.passkeys?.origins;
    if (!Array.isArray(origins) || origins.length === 0 || !origins.every((o) => typeof o === "string")) {
      return { ok: false, reason: "the credentials listing names no origins (passkeys.origins)" };
    }
    const verdict: CredentialLogVerdict = await verifyCredentialLog(listing.log, resolveKey);
    if (!verdict.ok) return verdict;
    return { ok: true, auditor: new PasskeyApprovalAuditor(verdict.credentials, origins) };
  }

  /** Why this receipt's passkey approval does not hold, or null (also for every other receipt). */
  async check(receipt: ReceiptClaims): Promise<string | null> {
    const approval = passkeyApprovalOf(receipt);
    if (!approval) return null;
    const at = `receipt ${receipt.n}`;
    const form = PasskeyApprovalSchema.safeParse(approval.passkey);
    if (!form.success) return `${at}: the recorded passkey form is malformed`;
    // The claims decide() judged must be the ones the person signed.
    if (canonicalJson(form.data.claims) !== canonicalJson(approval.claims)) return `${at}: the decided claims are not the signed ones`;
    const credential = this.credentials.get(approval.credential_id);
    if (!credential || form.data.credential_id !== approval.credential_id) return `${at}: credential ${approval.credential_id} is not in the credential log`;
    const approver = (approval.approver as { id?: unknown } | undefined)?.id;
    if (credential.approver !== approver || credential.approver !== form.data.claims.iss) {
      return `${at}: credential ${approval.credential_id} is ${credential.approver}'s, not ${String(approver)}'s`;
    }
    if (credential.registeredAt > receipt.at) return `${at}: credential ${approval.credential_id} was registered after the receipt`;
    if (credential.revokedAt !== null && credential.revokedAt <= receipt.at) return `${at}: credential ${approval.credential_id} was revoked before the receipt`;
    const verified = await verifyPasskeyApproval(form.data, {
      credential: { id: credential.credentialId, publicKey: credential.publicKey, counter: 0 },
      expectedOrigin: this.origins,
      expectedRpId: credential.rpId,
    });
    return verified.ok ? null : `${at}: the passkey assertion does not verify: ${verified.message}`;
  }
}

/** The accepted passkey approval a receipt recorded, if it recorded one. */
export function passkeyApprovalOf(receipt: ReceiptClaims): { credential_id: string; claims: unknown; approver: unknown; passkey: unknown } | null {
  const inputs = receipt.inputs as { kind: string; approval?: Record<string, unknown> };
  const approval = inputs.approval;
  if (inputs.kind !== "approval" || !approval || approval.ok !== true || approval.method !== "passkey") return null;
  return {
    credential_id: String(approval.credential_id),
    claims: approval.claims,
    approver: approval.approver,
    passkey: approval.passkey,
  };
}
