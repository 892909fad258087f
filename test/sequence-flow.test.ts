import { describe, expect, it, vi } from "vitest";
import { KEY, PARAMS, api, attest, claimsOf, describe_, receipts, redeem, reportOutcome, start, submitEvidence } from "./helpers.js";

describe("example workflows run from start to seal", () => {
  it("deployment: canary → canary_passed for this service and version → rollout → sealed", async () => {
    const { seq, capability } = await start("deployment");
    const canary = await redeem(KEY.deployer, capability, "deploy.canary", { ...PARAMS.deployment, percent: 5 });
    expect(canary.status).toBe(200);
    expect(canary.body.decision).toBe("ALLOW");

    const passed = await attest({ seq, stage: "canary", type: "canary_passed", facts: { ...PARAMS.deployment, error_rate: 0.001 } });
    const advanced = await submitEvidence(seq, passed);
    expect(advanced.status).toBe(200);
    expect(advanced.body.stage).toBe("rollout");
    expect(typeof advanced.body.capability).toBe("string");

    const rollout = await redeem(KEY.deployer, advanced.body.capability, "deploy.rollout", PARAMS.deployment);
    expect(rollout.status).toBe(200);
    expect(rollout.body.sealed).toBe(true);
    const state = await describe_(seq);
    expect(state.body.status).toBe("sealed");
    expect(state.body.seal_reason).toBe("completed");
    expect((await receipts(seq)).map((r) => claimsOf(r).kind)).toEqual(["start", "redeem", "evidence", "redeem"]);
  });

  it("data migration: backup → backup_verified → delete source records → sealed", async () => {
    const { seq, capability } = await start("data-migration");
    expect((await redeem(KEY.db, capability, "db.backup", PARAMS["data-migration"])).status).toBe(200);
    const verified = await attest({
      attester: "backup-checker",
      seq,
      stage: "backup",
      type: "backup_verified",
      facts: { ...PARAMS["data-migration"], rows_missing: 0 },
    });
    const advanced = await submitEvidence(seq, verified, KEY.attester);
    expect(advanced.body.stage).toBe("delete");
    const deleted = await redeem(KEY.db, advanced.body.capability, "db.delete_records", { table: "orders" });
    expect(deleted.status).toBe(200);
    expect(deleted.body.sealed).toBe(true);
  });

  it("code review: run tests (twice) → tests_passed for this commit → post review → sealed", async () => {
    const { seq, capability } = await start("code-review");
    const args = { repo: "acme/shop", commit: PARAMS["code-review"].commit };
    expect((await redeem(KEY.ci, capability, "ci.run_tests", args)).status).toBe(200);
    expect((await redeem(KEY.ci, capability, "ci.run_tests", args)).status).toBe(200);
    const passed = await attest({
      attester: "ci",
      seq,
      stage: "test",
      type: "tests_passed",
      facts: { repo: "acme/shop", commit: PARAMS["code-review"].commit, failed: 0 },
    });
    const advanced = await submitEvidence(seq, passed);
    const posted = await redeem(KEY.reviewBot, advanced.body.capability, "review.post", { repo: "acme/shop", pr: 42 });
    expect(posted.status).toBe(200);
    expect(posted.body.sealed).toBe(true);
  });

  it("research brief: collect (a sub-agent's narrowed share) → sources_collected → draft → its outcome → publish → sealed", async () => {
    const { seq, capability } = await start("research-brief");
    const fetch = (token: string, source: string) => redeem(KEY.web, token, "source.fetch", { source });
    const scout = await api("POST", `/v1/sequences/${seq}/delegations`, {
      key: KEY.agent,
      body: { token: capability, actor: "scout-news", grants: [{ audience: "web", actions: ["source.fetch"], uses: 2, where: "args.source == 'reuters.com'" }] },
    });
    expect(scout.status).toBe(201);
    expect((await fetch(scout.body.capability, "reuters.com")).status).toBe(200);
    expect((await fetch(scout.body.capability, "apnews.com")).body.error.code).toBe("CONDITION_FAILED");
    // A source the brief was not started with is outside every share, the lead agent's too.
    expect((await fetch(capability, "example.org")).body.error.code).toBe("CONDITION_FAILED");
    expect((await fetch(capability, "arxiv.org")).status).toBe(200);

    const facts = { topic: PARAMS["research-brief"].topic, sources: 2 };
    const tooFew = await submitEvidence(seq, await attest({ attester: "citation-checker", seq, stage: "collect", type: "sources_collected", facts }));
    expect(tooFew.body.error.code).toBe("CONDITION_FAILED");
    const collected = await attest({ attester: "citation-checker", seq, stage: "collect", type: "sources_collected", facts: { ...facts, sources: 3 } });
    const synthesize = await submitEvidence(seq, collected);
    expect(synthesize.body.stage).toBe("synthesize");
    expect((await fetch(scout.body.capability, "reuters.com")).body.error.code).toBe("SEQUENCE_VIOLATION");

    const draft = await redeem(KEY.model, synthesize.body.capability, "brief.draft", { topic: PARAMS["research-brief"].topic });
    expect(draft.status).toBe(200);
    const publish = await reportOutcome(KEY.model, draft.body.receipt, "succeeded");
    expect(publish.body.stage).toBe("publish");
    const published = await redeem(KEY.dashboard, publish.body.capability, "brief.publish", { topic: PARAMS["research-brief"].topic });
    expect(published.body.sealed).toBe(true);
    expect((await receipts(seq)).map((r) => claimsOf(r).kind)).toEqual(["start", "delegate", "redeem", "redeem", "evidence", "evidence", "redeem", "outcome", "redeem"]);
  });

  it("a workflow that completes on an attestation seals when the final gate is met", async () => {
    // short-lived.json's capabilities live one second with no skew: in real time a loaded CI
    // run let one expire mid-test (401). The Worker and its objects share the test's frozen Date.
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      const { seq, capability } = await start("short-lived");
      expect((await redeem(KEY.deployer, capability, "ticket.work")).status).toBe(200);
      const done = await submitEvidence(seq, await attest({ seq, stage: "work", type: "work_done" }));
      expect(done.body.stage).toBe("close");
      expect((await redeem(KEY.deployer, done.body.capability, "ticket.close")).status).toBe(200);
      const closed = await submitEvidence(seq, await attest({ seq, stage: "close", type: "ticket_closed", facts: { ticket: "T-1" } }));
      expect(closed.status).toBe(200);
      expect(closed.body.sealed).toBe(true);
      expect(closed.body.capability).toBeUndefined();
      expect((await describe_(seq)).body.status).toBe("sealed");
    } finally {
      vi.useRealTimers();
    }
  });

  it("the capability names the receipt that minted it and the evidence that opened its stage", async () => {
    const { seq, capability } = await start("deployment");
    await redeem(KEY.deployer, capability, "deploy.canary", { ...PARAMS.deployment, percent: 1 });
    const passed = await attest({ seq, stage: "canary", type: "canary_passed", facts: { ...PARAMS.deployment, error_rate: 0 } });
    const advanced = await submitEvidence(seq, passed);
    const { decodeJwt } = await import("jose");
    const claims = decodeJwt(advanced.body.capability) as Record<string, any>;
    const { receiptHash } = await import("../src/tokens/receipt.js");
    expect(claims.receipt).toBe(await receiptHash(advanced.body.receipt));
    expect(claims.evidence.items).toEqual([{ iss: "monitor", type: "canary_passed", jti: decodeJwt(passed).jti }]);
    expect(claims.stage).toBe("rollout");
    expect(claims.aud).toEqual(["deployer"]);
    expect(claims.act).toEqual({ sub: "agent-7" });
    expect(claims.sub).toBe("user:alice");
    expect(claims.iss).toBe("https://baton.test");
    expect(claimsOf(advanced.body.receipt).minted?.jti).toBe(claims.jti);
  });
});
