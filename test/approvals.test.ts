import { decodeJwt } from "jose";
import { describe, expect, it, vi } from "vitest";
import { verifyReceiptChain } from "../src/audit/verify-chain.js";
import {
  KEY,
  PARAMS,
  approvalRequest,
  approve,
  attest,
  claimsOf,
  describe_,
  jwksLookup,
  ledgerState,
  receipts,
  redeem,
  signedApproval,
  start,
  submitApproval,
  submitEvidence,
} from "./helpers.js";

/** A reimbursement whose gate waits only on the finance manager's approval. */
async function awaitingApproval() {
  const started = await start("reimbursement");
  const { seq } = started;
  const facts = { report: PARAMS.reimbursement.report, total: PARAMS.reimbursement.total };
  const summary = await attest({ attester: "expense-checker", seq, stage: "gather", type: "summary_complete", facts });
  const escalated = await submitEvidence(seq, summary);
  return { ...started, escalated };
}

/** A 2-of-n gate of approvals only (no attestations): approvals are taken at once. */
async function quorumGate(workflow: "quorum" | "approvals-short" = "quorum") {
  return start(workflow);
}

describe("approvals: escalation and k of n", () => {
  it("reimbursement: attestation → ESCALATE (202) with what is pending; the manager's approval opens payment", async () => {
    const { seq, escalated } = await awaitingApproval();
    expect(escalated.status).toBe(202);
    expect(escalated.body).toMatchObject({
      decision: "ESCALATE",
      code: "APPROVAL_REQUIRED",
      details: { group: "finance-managers", required: 1, remaining: 1, approved_by: [] },
    });
    expect(claimsOf(escalated.body.receipt)).toMatchObject({ decision: "ESCALATE", code: "APPROVAL_REQUIRED", kind: "evidence" });

    const pending = await approvalRequest(seq);
    expect(pending).toMatchObject({ group: "finance-managers", required: 1, remaining: 1, ready: true, rejected: null });
    expect(pending.subject).toMatchObject({ seq, stage: "gather", opens: "pay", params: PARAMS.reimbursement });
    expect(pending.subject.evidence).toHaveLength(1);
    expect(pending.digest).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const opened = await approve(seq, "fran");
    expect(opened.status).toBe(200);
    expect(opened.body).toMatchObject({ decision: "ALLOW", stage: "pay" });
    const capability = decodeJwt(opened.body.capability) as Record<string, any>;
    expect(capability.stage).toBe("pay");
    expect(capability.evidence.items.map((i: any) => `${i.type}:${i.iss}`)).toEqual(["summary_complete:expense-checker", "approval:fran"]);
    expect((await describe_(seq)).body.stage.id).toBe("pay");
  });

  it("k-1 approvals ESCALATE; the k-th opens the stage; the same approver twice counts once", async () => {
    const { seq } = await quorumGate();
    const first = await approve(seq, "q01");
    expect(first.status).toBe(202);
    expect(first.body.details).toMatchObject({ remaining: 1, approved_by: [{ approver: "q01" }] });
    const again = await approve(seq, "q01");
    expect(again.status).toBe(202);
    expect(again.body.details).toMatchObject({ remaining: 1 });
    expect((await approvalRequest(seq)).remaining).toBe(1);
    const second = await approve(seq, "q02");
    expect(second.status).toBe(200);
    expect(decodeJwt(second.body.capability)).toMatchObject({ stage: "ship" });
  });

  it("the subject approving their own request does not count, and changes nothing", async () => {
    const { seq } = await awaitingApproval();
    const before = await ledgerState(seq);
    const own = await approve(seq, "alice");
    expect(own.status).toBe(403);
    expect(own.body.error).toMatchObject({ code: "EVIDENCE_INVALID", message: expect.stringMatching(/separation of duties/) });
    expect(await ledgerState(seq)).toEqual(before);
  });

  it("the orchestrator that started the sequence does not count when the gate excludes it", async () => {
    // approvals-short keeps the default (exclude_orchestrator: true); the approver `orchestrator`
    // (group quorum, test/fixtures/orchestrator-approver.json) is the client that started it.
    const { seq } = await quorumGate("approvals-short");
    expect(await approvalRequest(seq)).toMatchObject({ group: "quorum", exclude_orchestrator: true, remaining: 2 });
    const before = await ledgerState(seq);
    const own = await approve(seq, "orchestrator");
    expect(own.status).toBe(403);
    expect(own.body.error).toMatchObject({ code: "EVIDENCE_INVALID", message: "separation of duties: orchestrator started this sequence" });
    expect(claimsOf(own.body.error.receipt)).toMatchObject({ kind: "approval", decision: "DENY", code: "EVIDENCE_INVALID" });
    expect(await ledgerState(seq)).toEqual(before);
    // Not counted: one more approver still leaves one to go.
    const next = await approve(seq, "q12");
    expect(next.status).toBe(202);
    expect(next.body.details).toMatchObject({ remaining: 1, approved_by: [{ approver: "q12" }] });
  });

  it("the same orchestrator approval counts where the gate allows it (exclude_orchestrator: false)", async () => {
    // The control of the test above: the approval itself is good, only the rule refuses it.
    const { seq } = await quorumGate("quorum");
    expect(await approvalRequest(seq)).toMatchObject({ exclude_orchestrator: false });
    const counted = await approve(seq, "orchestrator");
    expect(counted.status).toBe(202);
    expect(counted.body.details).toMatchObject({ remaining: 1, approved_by: [{ approver: "orchestrator" }] });
    expect((await approve(seq, "q13")).body).toMatchObject({ decision: "ALLOW", stage: "ship" });
  });

  it("one rejection shuts the gate: later approvals and evidence get APPROVAL_DENIED", async () => {
    const { seq } = await quorumGate();
    const rejected = await approve(seq, "q03", { decision: "reject" });
    expect(rejected.status).toBe(403);
    expect(rejected.body.error.code).toBe("APPROVAL_DENIED");
    expect(claimsOf(rejected.body.error.receipt)).toMatchObject({ decision: "DENY", code: "APPROVAL_DENIED" });
    expect(await approvalRequest(seq)).toMatchObject({ rejected: { approver: "q03" }, ready: false });
    const before = await ledgerState(seq);
    for (const approver of ["q04", "q05"]) {
      const late = await approve(seq, approver, { subject: (await approvalRequest(seq)).subject ?? undefined });
      expect(late.body.error).toMatchObject({ code: "APPROVAL_DENIED", message: "q03 rejected this gate; start a new sequence" });
    }
    // Later evidence too: a well-formed attestation for the current stage is refused the same way.
    const evidence = await submitEvidence(seq, await attest({ seq, stage: "work", type: "work_done", facts: {} }));
    expect(evidence.status).toBe(403);
    expect(evidence.body.error).toMatchObject({ code: "APPROVAL_DENIED", message: "q03 rejected this gate; start a new sequence" });
    expect(claimsOf(evidence.body.error.receipt)).toMatchObject({ kind: "evidence", decision: "DENY", code: "APPROVAL_DENIED" });
    expect(await ledgerState(seq)).toEqual(before);
    expect((await describe_(seq)).body.stage.id).toBe("work");
  });

  it("an expired approval no longer counts", async () => {
    // approvals-short: approvals count for 2 s, no clock skew. The clock is the test's (a fake
    // Date, which the Worker and its Durable Objects share with the test in workerd): frozen while
    // q06 signs and is counted, then moved a second past q06's window instead of sleeping through it.
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      const { seq } = await quorumGate("approvals-short");
      const signedAt = Math.floor(Date.now() / 1000); // q06's iat: the helper signs at the current time
      expect((await approve(seq, "q06")).status).toBe(202);
      vi.setSystemTime((signedAt + 2 + 1) * 1000);
      const second = await approve(seq, "q07");
      expect(second.status).toBe(202);
      expect(second.body.details).toMatchObject({ remaining: 1, approved_by: [{ approver: "q07" }] });
      expect((await approve(seq, "q08")).status).toBe(200);
    } finally {
      vi.useRealTimers();
    }
  });

  it("an approval already older than its window is EVIDENCE_STALE", async () => {
    const { seq } = await quorumGate();
    const old = await approve(seq, "q09", { iat: Math.floor(Date.now() / 1000) - 3600 - 60 });
    expect(old.body.error.code).toBe("EVIDENCE_STALE");
    const expired = await approve(seq, "q09", { exp: Math.floor(Date.now() / 1000) - 60 });
    expect(expired.body.error.code).toBe("EVIDENCE_STALE");
  });
});

describe("approvals are bound to what they approve", () => {
  it("another sequence, another stage, another parameter set → EVIDENCE_INVALID, state unchanged", async () => {
    const a = await awaitingApproval();
    const b = await awaitingApproval();
    const subjectA = (await approvalRequest(a.seq)).subject;
    const before = await ledgerState(b.seq);

    const forA = await signedApproval(a.seq, "fran");
    expect((await submitApproval(b.seq, forA)).body.error.code).toBe("EVIDENCE_INVALID");

    const otherStage = await signedApproval(b.seq, "fran", { subject: { ...(await approvalRequest(b.seq)).subject, stage: "pay" } });
    expect((await submitApproval(b.seq, otherStage)).body.error.code).toBe("EVIDENCE_INVALID");

    const otherParams = { ...(await approvalRequest(b.seq)).subject, params: { ...PARAMS.reimbursement, total: 5000 } };
    const moved = await submitApproval(b.seq, await signedApproval(b.seq, "fran", { subject: otherParams }));
    expect(moved.body.error).toMatchObject({ code: "EVIDENCE_INVALID", message: expect.stringMatching(/digest/) });

    // A's subject, re-pointed at B's sequence id, still names A's evidence.
    const repointed = await submitApproval(b.seq, await signedApproval(b.seq, "fran", { subject: { ...subjectA, seq: b.seq } }));
    expect(repointed.body.error.code).toBe("EVIDENCE_INVALID");
    expect(await ledgerState(b.seq)).toEqual(before);
  });

  it("a replayed approval → REPLAY_NONCE", async () => {
    const { seq } = await quorumGate();
    const approval = await signedApproval(seq, "q10");
    expect((await submitApproval(seq, approval)).status).toBe(202);
    const replay = await submitApproval(seq, approval);
    expect(replay.body.error.code).toBe("REPLAY_NONCE");
  });

  it("signed by a key outside the group, naming another approver, or not an approval → EVIDENCE_INVALID", async () => {
    const { seq } = await awaitingApproval();
    const before = await ledgerState(seq);
    expect((await approve(seq, "sam")).body.error).toMatchObject({ code: "EVIDENCE_INVALID", message: expect.stringMatching(/not in group finance-managers/) });
    expect((await approve(seq, "sam", { as: "fran" })).body.error).toMatchObject({ code: "EVIDENCE_INVALID", message: expect.stringMatching(/does not own key/) });
    const attestation = await attest({ attester: "expense-checker", seq, stage: "gather", type: "summary_complete" });
    expect((await submitApproval(seq, attestation)).body.error).toMatchObject({ code: "EVIDENCE_INVALID", message: expect.stringMatching(/typ/) });
    expect(await ledgerState(seq)).toEqual(before);
  });

  it("approvals come after the gate's attestations", async () => {
    const { seq } = await start("reimbursement");
    expect(await approvalRequest(seq)).toMatchObject({ ready: false, subject: null, digest: null });
    const subject = { seq, workflow: "x", stage: "gather", opens: "pay", params: PARAMS.reimbursement, evidence: [] };
    const early = await approve(seq, "fran", { subject });
    expect(early.body.error.code).toBe("SEQUENCE_VIOLATION");
  });

  it("only approvers, the owner and the actor may submit; the approval's key decides who approved", async () => {
    const { seq } = await quorumGate();
    const approval = await signedApproval(seq, "q11");
    expect((await submitApproval(seq, approval, KEY.deployer)).body.error.code).toBe("FORBIDDEN");
    expect((await submitApproval(seq, approval, KEY.agent2)).body.error.code).toBe("FORBIDDEN");
    expect((await submitApproval(seq, approval, KEY.agent)).status).toBe(202);
  });
});

describe("approvals under concurrency", () => {
  it("20 concurrent approvals from distinct approvers for a 2-of-n gate open the stage exactly once", async () => {
    const { seq } = await quorumGate();
    const approvals = await Promise.all(
      Array.from({ length: 20 }, (_, i) => signedApproval(seq, `q${String(i + 1).padStart(2, "0")}`)),
    );
    const answers = await Promise.all(approvals.map((approval) => submitApproval(seq, approval)));
    const outcome = (r: (typeof answers)[number]) => r.body.decision ?? r.body.error.code;
    const counts = answers.reduce<Record<string, number>>((acc, r) => {
      acc[outcome(r)] = (acc[outcome(r)] ?? 0) + 1;
      return acc;
    }, {});
    // One waits, one opens; the other 18 find the gate already passed (they name the old stage).
    expect(counts).toEqual({ ESCALATE: 1, ALLOW: 1, EVIDENCE_INVALID: 18 });
    const opened = answers.filter((r) => r.body.capability);
    expect(opened).toHaveLength(1);

    const chain = await receipts(seq);
    const result = await verifyReceiptChain(chain, await jwksLookup());
    expect(result.ok).toBe(true);
    const advances = chain.map(claimsOf).filter((r) => (r.effects as { type: string }[]).some((e) => e.type === "advance"));
    expect(advances).toHaveLength(1);
    expect(advances[0]?.minted?.jti).toBe(decodeJwt(opened[0]?.body.capability).jti);
    expect((await describe_(seq)).body.capability.jti).toBe(advances[0]?.minted?.jti);
  });
});

describe("cumulative limits", () => {
  it("payments add up to at most the approved total; the denial names what is left", async () => {
    const { seq } = await awaitingApproval();
    const token = (await approve(seq, "fran")).body.capability;
    const pay = (amount: number) => redeem(KEY.payments, token, "payment.send", { employee: "alice", currency: "EUR", amount });
    const first = await pay(200);
    expect(first.body.details).toMatchObject({ uses_before: 0, uses_after: 1, sum_before: 0, sum_after: 200, sum_max: 500 });
    expect(claimsOf(first.body.receipt).details).toMatchObject({ sum_before: 0, sum_after: 200 });
    expect((await pay(250)).status).toBe(200);
    const before = await ledgerState(seq);
    const over = await pay(100);
    expect(over.status).toBe(403);
    expect(over.body.error).toMatchObject({ code: "SCOPE_EXCEEDED", details: { remaining: 50, requested: 100, sum_before: 450 } });
    expect(await ledgerState(seq)).toEqual(before);
    expect((await pay(-10)).body.error.code).toBe("CONDITION_FAILED");
    expect((await redeem(KEY.payments, token, "payment.send", { employee: "alice", currency: "EUR", amount: "50" })).body.error.code).toBe(
      "CONDITION_FAILED",
    );
    const last = await pay(50);
    expect(last.body).toMatchObject({ decision: "ALLOW", sealed: true });
  });

  it("concurrent redeems whose amounts exceed the budget: the total allowed never exceeds it", async () => {
    const { seq, capability } = await start("budget");
    const answers = await Promise.all(Array.from({ length: 40 }, () => redeem(KEY.payments, capability, "refund", { amount: 45 })));
    const allowed = answers.filter((r) => r.status === 200);
    expect(allowed).toHaveLength(11); // 11 × 45 = 495 ≤ 500 < 12 × 45
    expect(answers.filter((r) => r.body.error?.code === "SCOPE_EXCEEDED")).toHaveLength(29);
    const state = (await describe_(seq)).body;
    expect(state.uses[0]).toMatchObject({ used: 11, sum: { total: 495, max: "params.limit" } });
    // A second grant has its own budget (a constant), untouched by the first.
    expect((await redeem(KEY.payments, capability, "fee", { amount: 10 })).status).toBe(200);
    expect((await redeem(KEY.payments, capability, "fee", { amount: 0.5 })).body.error.code).toBe("SCOPE_EXCEEDED");
  });
});
