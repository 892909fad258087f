import { describe, expect, it } from "vitest";
import { base64url } from "jose";
import { PasskeyApprovalAuditor } from "../src/audit/passkey-approvals.js";
import { compileWorkflow } from "../src/policy/compile.js";
import { replayChain } from "../src/audit/replay.js";
import { verifyReceiptChain } from "../src/audit/verify-chain.js";
import { createKeyring } from "../src/tokens/keys.js";
import { type ReceiptClaims, receiptHash, signReceipt } from "../src/tokens/receipt.js";
import batonTestKeys from "./fixtures/signing-keys.test-only.json";
import { KEY, PARAMS, api, attest, claimsOf, jwksLookup, start, submitEvidence } from "./helpers.js";
import { approveWithPasskey, enrolPasskey, revokePasskey } from "./helpers/passkeys.js";

// The auditor's re-verification of passkey approvals, offline: from an evidence bundle, the
// receipt's recorded assertion and the public key the signed credential log establishes. Each
// attack is a chain or a listing an insider (who holds the signing key) could hand over.

async function approvedBundle() {
  const fran = await enrolPasskey("fran");
  const { seq } = await start("reimbursement");
  const facts = { report: PARAMS.reimbursement.report, total: PARAMS.reimbursement.total };
  await submitEvidence(seq, await attest({ attester: "expense-checker", seq, stage: "gather", type: "summary_complete", facts }));
  expect((await approveWithPasskey(seq, "fran", fran)).status).toBe(200);
  const bundle = await api("GET", `/v1/sequences/${seq}/bundle`, { key: KEY.auditor });
  expect(bundle.status).toBe(200);
  return { seq, fran, bundle: bundle.body };
}

/** Every reason the auditor gives for the chain's receipts (null: all hold). */
async function audit(receipts: readonly string[], listing: unknown): Promise<string | null> {
  const keys = await jwksLookup();
  const built = await PasskeyApprovalAuditor.fromListing(listing as never, keys);
  if (!built.ok) return built.reason;
  const chain = await verifyReceiptChain(receipts, keys);
  if (!chain.ok) return chain.reason;
  for (const receipt of chain.receipts) {
    const problem = await built.auditor.check(receipt);
    if (problem) return problem;
  }
  return null;
}

/** The chain rewritten by `edit` and re-signed with Baton's (test) key, re-linked: it verifies as a chain. */
async function resigned(receipts: readonly string[], edit: (claims: ReceiptClaims) => void): Promise<string[]> {
  const { "//": _comment, ...keyset } = batonTestKeys;
  const keyring = await createKeyring(keyset);
  const out: string[] = [];
  for (const [n, jws] of receipts.entries()) {
    const claims = claimsOf(jws);
    edit(claims);
    if (n > 0) claims.prev = await receiptHash(out[n - 1] as string);
    out.push(await signReceipt(keyring, claims));
  }
  return out;
}

const approvalOf = (claims: ReceiptClaims) => (claims.inputs as Record<string, any>).approval;
const isPasskeyApproval = (claims: ReceiptClaims) => claims.kind === "approval" && approvalOf(claims)?.method === "passkey";

describe("the audit of passkey approvals", () => {
  it("an evidence bundle holds everything: the chain verifies, replays, reaches the signed head, and the assertion re-verifies", async () => {
    const { bundle } = await approvedBundle();
    expect(Object.keys(bundle).sort()).toEqual(["credentials", "jwks", "receipts", "signed_head", "workflow"]);
    expect(await audit(bundle.receipts, bundle.credentials)).toBeNull();
    const chain = await verifyReceiptChain(bundle.receipts, await jwksLookup());
    if (!chain.ok) throw new Error(chain.reason);
    expect(chain.receipts.filter(isPasskeyApproval)).toHaveLength(1);
    expect((await replayChain(chain.receipts, await compileWorkflow(bundle.workflow))).divergences).toEqual([]);
    // the re-signing alone changes nothing the auditor checks
    expect(await audit(await resigned(bundle.receipts, () => {}), bundle.credentials)).toBeNull();
  });

  it("test_tampered_assertion: a re-signed chain whose recorded assertion was altered is refused", async () => {
    const { bundle } = await approvedBundle();
    const tampered = await resigned(bundle.receipts, (claims) => {
      if (!isPasskeyApproval(claims)) return;
      const form = approvalOf(claims).passkey;
      // one bit of the signature's last byte, re-encoded canonically: still DER, no longer the
      // person's signature (editing the last base64url character instead can leave a
      // non-canonical spelling, which the form's schema refuses before any verification)
      const bytes = base64url.decode(form.signature);
      bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1;
      form.signature = base64url.encode(bytes);
    });
    expect(await audit(tampered, bundle.credentials)).toMatch(/assertion does not verify/);
  });

  it("test_decided_claims_swapped: a re-signed chain whose decided claims are not the signed ones is refused", async () => {
    const { bundle } = await approvedBundle();
    const tampered = await resigned(bundle.receipts, (claims) => {
      if (isPasskeyApproval(claims)) approvalOf(claims).claims.comment = "approved by someone else";
    });
    expect(await audit(tampered, bundle.credentials)).toMatch(/not the signed ones/);
  });

  it("test_missing_credential: a listing without the credential's key, or with its log cut, is refused", async () => {
    const { bundle, fran } = await approvedBundle();
    expect(await audit(bundle.receipts, { ...bundle.credentials, log: [] })).toMatch(/not in the credential log/);
    const cut = bundle.credentials.log.filter((jws: string) => !JSON.stringify(claimsOf(jws)).includes(fran.credential.id));
    // cut from the middle the chain of the log breaks; cut at its end the credential is not in it
    expect(await audit(bundle.receipts, { ...bundle.credentials, log: cut })).toMatch(/credential log entry \d+: n is|not in the credential log/);
    expect(await audit(bundle.receipts, { ...bundle.credentials, log: undefined })).toMatch(/no signed log/);
  });

  it("test_other_approvers_credential and test_revoked_before: refused; revoked after the receipt still holds", async () => {
    const { bundle, fran } = await approvedBundle();
    const reassigned = await resigned(bundle.receipts, (claims) => {
      if (isPasskeyApproval(claims)) approvalOf(claims).approver.id = "felix";
    });
    expect(await audit(reassigned, bundle.credentials)).toMatch(/fran's, not felix's/);

    expect((await revokePasskey("fran", fran.credential.id)).status).toBe(200);
    const listing = (await api("GET", "/v1/approvers/credentials", { key: KEY.auditor })).body;
    expect(await audit(bundle.receipts, listing)).toBeNull();
    const later = await resigned(bundle.receipts, (claims) => {
      if (isPasskeyApproval(claims)) claims.at = Date.now() + 60_000;
    });
    expect(await audit(later, listing)).toMatch(/revoked before the receipt/);
  });

  it("only auditors read bundles", async () => {
    const { seq } = await start("reimbursement");
    expect((await api("GET", `/v1/sequences/${seq}/bundle`, { key: KEY.orchestrator })).status).toBe(403);
    expect((await api("GET", `/v1/sequences/${seq}/bundle`, { key: KEY.auditor })).status).toBe(200);
  });
});
