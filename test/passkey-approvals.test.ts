import { exportJWK, generateKeyPair } from "jose";
import { describe, expect, it } from "vitest";
import { PARAMS, approvalRequest, approve, attest, claimsOf, ledgerState, receipts, start, submitEvidence } from "./helpers.js";
import { approveWithPasskey, credentials, enrolPasskey, passkeyApproval, revokePasskey, submitPasskey } from "./helpers/passkeys.js";

// Passkey approvals at the gate: the same rules as JWS approvals (k of n, once per person,
// separation of duties, rejection, replay), each attack tried against the real ledger with an
// enrolled software passkey, and the receipt keeping the assertion.

/** A reimbursement (1 of the finance managers, not the subject alice) waiting for its approval. */
async function reimbursement() {
  const { seq } = await start("reimbursement");
  const facts = { report: PARAMS.reimbursement.report, total: PARAMS.reimbursement.total };
  const escalated = await submitEvidence(seq, await attest({ attester: "expense-checker", seq, stage: "gather", type: "summary_complete", facts }));
  expect(escalated.status).toBe(202);
  return seq;
}

/** An incident restart (2 of the 3 SREs) waiting for approvals. */
async function incident() {
  const { publicKey } = await generateKeyPair("EdDSA");
  const { seq } = await start("incident-response", { body: { actor_jwk: { ...(await exportJWK(publicKey)), kid: "agent-7-key", alg: "EdDSA" } } });
  const { incident: id, service } = PARAMS["incident-response"];
  const plan = await attest({ seq, stage: "diagnose", type: "remediation_plan", facts: { service, incident: id, action: "restart" } });
  expect((await submitEvidence(seq, plan)).status).toBe(202);
  return seq;
}

describe("passkey approvals", () => {
  it("a 1-of-1 gate opens with the manager's passkey; the receipt keeps the assertion; the counter is stored", async () => {
    const fran = await enrolPasskey("fran");
    const seq = await reimbursement();
    const form = await passkeyApproval(seq, "fran", fran);
    const opened = await submitPasskey(seq, form);
    expect(opened.status).toBe(200);
    expect(opened.body).toMatchObject({ decision: "ALLOW", stage: "pay" });
    const receipt = claimsOf(opened.body.receipt);
    expect(receipt.inputs).toMatchObject({
      kind: "approval",
      approval: { ok: true, method: "passkey", credential_id: fran.credential.id, approver: { id: "fran" }, passkey: form },
    });
    const listed = (await credentials()).body.credentials.find((c: { credential_id: string }) => c.credential_id === fran.credential.id);
    expect(listed.counter).toBe(1);
  });

  it("a 2-of-3 gate: the first SRE escalates, the same SRE again (passkey or key) counts once, the second opens it", async () => {
    const sam = await enrolPasskey("sam");
    const sasha = await enrolPasskey("sasha");
    const seq = await incident();
    const first = await approveWithPasskey(seq, "sam", sam);
    expect(first.status).toBe(202);
    expect(first.body.details).toMatchObject({ remaining: 1, approved_by: [{ approver: "sam" }] });
    expect((await approveWithPasskey(seq, "sam", sam)).body.details).toMatchObject({ remaining: 1 });
    expect((await approve(seq, "sam")).body.details).toMatchObject({ remaining: 1 });
    const second = await approveWithPasskey(seq, "sasha", sasha);
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ decision: "ALLOW", stage: "restart" });
  });

  it("test_passkey_rejection: a rejection with a passkey shuts the gate for everyone", async () => {
    const felix = await enrolPasskey("felix");
    const seq = await reimbursement();
    const rejected = await approveWithPasskey(seq, "felix", felix, { decision: "reject" });
    expect(rejected.status).toBe(403);
    expect(rejected.body.error.code).toBe("APPROVAL_DENIED");
    expect((await approve(seq, "fran")).body.error.code).toBe("APPROVAL_DENIED");
  });

  it("test_own_passkey: the requester's own passkey does not count (separation of duties), nothing changes", async () => {
    const alice = await enrolPasskey("alice");
    const seq = await reimbursement();
    const before = await ledgerState(seq);
    const own = await approveWithPasskey(seq, "alice", alice);
    expect(own.status).toBe(403);
    expect(own.body.error.code).toBe("EVIDENCE_INVALID");
    expect(own.body.error.message).toMatch(/separation of duties/);
    expect(await ledgerState(seq)).toEqual(before);
  });

  it("test_replayed_assertion: the same passkey approval twice is REPLAY_NONCE", async () => {
    const sam = await enrolPasskey("sam");
    const seq = await incident();
    const form = await passkeyApproval(seq, "sam", sam);
    expect((await submitPasskey(seq, form)).status).toBe(202);
    const replayed = await submitPasskey(seq, form);
    expect(replayed.status).toBe(409);
    expect(replayed.body.error.code).toBe("REPLAY_NONCE");
    expect(replayed.body.error.receipt).toBeTypeOf("string");
  });

  it("test_cloned_authenticator: a fresh approval whose counter went back is EVIDENCE_INVALID", async () => {
    const sam = await enrolPasskey("sam");
    const seq = await incident();
    expect((await approveWithPasskey(seq, "sam", sam, { counter: 5 })).status).toBe(202);
    const cloned = await approveWithPasskey(seq, "sam", sam, { counter: 5 });
    expect(cloned.body.error.code).toBe("EVIDENCE_INVALID");
    expect(cloned.body.error.message).toMatch(/counter/);
  });

  it("test_other_digest: an assertion for another digest, stage or sequence is EVIDENCE_INVALID", async () => {
    const fran = await enrolPasskey("fran");
    const seq = await reimbursement();
    const other = await reimbursement();
    const subject = (await approvalRequest(seq)).subject;
    const before = await ledgerState(seq);
    const attempts = [
      // signed for a subject with another total: its digest is not this gate's
      await passkeyApproval(seq, "fran", fran, { subject: { ...subject, params: { ...PARAMS.reimbursement, total: 5000 } } }),
      // signed for the other sequence and presented here
      await passkeyApproval(other, "fran", fran, { presented: { seq } }),
      // signed, then the claims changed after the signature (another stage, another digest)
      await passkeyApproval(seq, "fran", fran, { presented: { stage: "pay" } }),
      await passkeyApproval(seq, "fran", fran, { presented: { digest: "A".repeat(43) } }),
    ];
    for (const form of attempts) {
      const refused = await submitPasskey(seq, form);
      expect(refused.status).toBe(403);
      expect(refused.body.error.code).toBe("EVIDENCE_INVALID");
    }
    expect(await ledgerState(seq)).toEqual(before);
  });

  it("test_revoked_passkey and test_other_approvers_passkey: refused, receipted", async () => {
    const fran = await enrolPasskey("fran");
    const felix = await enrolPasskey("felix");
    const seq = await reimbursement();
    // fran's passkey presented as felix's approval
    const borrowed = await approveWithPasskey(seq, "fran", fran, { as: "felix" });
    expect(borrowed.body.error.code).toBe("EVIDENCE_INVALID");
    expect(borrowed.body.error.message).toMatch(/not felix's/);
    // an approver that is not configured
    expect((await approveWithPasskey(seq, "fran", fran, { as: "mallory" })).body.error.code).toBe("EVIDENCE_INVALID");
    expect((await revokePasskey("felix", felix.credential.id)).status).toBe(200);
    const revoked = await approveWithPasskey(seq, "felix", felix);
    expect(revoked.body.error.code).toBe("EVIDENCE_INVALID");
    expect(revoked.body.error.message).toMatch(/revoked/);
    const chain = (await receipts(seq)).map(claimsOf);
    expect(chain.slice(-3).map((r) => r.code)).toEqual(["EVIDENCE_INVALID", "EVIDENCE_INVALID", "EVIDENCE_INVALID"]);
    expect((await approveWithPasskey(seq, "fran", fran)).status).toBe(200);
  });

  it("test_stale_passkey_approval: an approval older than the gate's max_age is EVIDENCE_STALE, one from the future too", async () => {
    const fran = await enrolPasskey("fran");
    const seq = await reimbursement();
    const now = Math.floor(Date.now() / 1000);
    expect((await approveWithPasskey(seq, "fran", fran, { iat: now - 86_400 - 600 })).body.error.code).toBe("EVIDENCE_STALE");
    expect((await approveWithPasskey(seq, "fran", fran, { iat: now + 3_600 })).body.error.code).toBe("EVIDENCE_STALE");
    expect((await approveWithPasskey(seq, "fran", fran)).status).toBe(200);
  });

  it("the OpenAPI document shows both forms of an approval", async () => {
    const { api } = await import("./helpers.js");
    const { body } = await api("GET", "/openapi.json");
    const forms = body.components.schemas.Approval.anyOf.map((s: { properties: Record<string, unknown> }) => Object.keys(s.properties));
    expect(forms).toEqual([["approval"], ["passkey"]]);
  });

  it("a body with both forms, or neither, is INVALID_REQUEST", async () => {
    const fran = await enrolPasskey("fran");
    const seq = await reimbursement();
    const passkey = await passkeyApproval(seq, "fran", fran);
    const { api, KEY } = await import("./helpers.js");
    const both = await api("POST", `/v1/sequences/${seq}/approvals`, { key: KEY.approvals, body: { passkey, approval: "a.b.c" } });
    expect(both.status).toBe(400);
    expect(both.body.error.code).toBe("INVALID_REQUEST");
    expect((await submitPasskey(seq, { ...passkey, extra: 1 })).status).toBe(400);
  });
});
