import type { Context } from "hono";
import { directoryStub } from "../../../ledger/approver-protocol.js";
import type { ApprovalCheck } from "../../../tokens/approval.js";
import type { UnverifiedPasskeyApproval } from "../../../tokens/passkey.js";
import { type CredentialLookup, checkPasskeyApproval } from "../../../tokens/passkey-approval-check.js";
import type { AppEnv } from "../../context.js";

/**
 * A passkey approval checked against the approver directory: the credential named by the
 * claims' `iss` and the form's credential_id (that approver's, not revoked), the assertion
 * verified for the configured RP. Answers the ApprovalCheck the ledger decides on, and a
 * function that records the authenticator's counter once the ledger has answered.
 */
export async function passkeyApprovalCheck(
  c: Context<AppEnv>,
  form: UnverifiedPasskeyApproval,
): Promise<{ check: ApprovalCheck; afterDecision: () => Promise<void> }> {
  const config = c.get("config");
  const directory = directoryStub(c.env.APPROVERS);
  const approver = config.approvers.get(form.claims.iss);
  let credential: CredentialLookup = { refused: `iss ${form.claims.iss} is no configured approver` };
  if (approver) {
    const found = await directory.credential({ approver: approver.id, credentialId: form.credential_id });
    credential = found.ok
      ? { id: found.value.credential_id, publicKey: found.value.public_key, counter: found.value.counter, rpId: found.value.rp_id }
      : { refused: found.message };
  }
  const { check, newCounter } = await checkPasskeyApproval(form, {
    approver,
    credential,
    expectedOrigin: config.passkeys.origins,
    expectedRpId: config.passkeys.rp_id,
  });
  return {
    check,
    // Not atomic with the ledger's commit: the counter lives in the directory, the decision in the
    // sequence's ledger, two objects with no shared transaction. The counter only detects a cloned
    // authenticator; replay is stopped by the approval's jti, spent in the ledger's own
    // transaction (REPLAY_NONCE), and the stored counter only ever rises (raiseCounter).
    afterDecision: async () => {
      if (newCounter !== null && newCounter > 0) await directory.recordCounter({ credentialId: form.credential_id, counter: newCounter });
    },
  };
}
