import { decodeJwt } from "jose";
import { describe, expect, it } from "vitest";
import incidentResponse from "../examples/workflows/incident-response.json";
import deployment from "../examples/workflows/deployment.json";
import codeReview from "../examples/workflows/code-review.json";
import dataMigration from "../examples/workflows/data-migration.json";
import reimbursement from "../examples/workflows/reimbursement.json";
import { replayChain } from "../src/audit/replay.js";
import { verifyReceiptChain } from "../src/audit/verify-chain.js";
import { compileWorkflow } from "../src/policy/compile.js";
import { KEY, PARAMS, api, approve, attest, claimsOf, jwksLookup, receipts, redeem, start, submitEvidence } from "./helpers.js";

async function verifiedChain(seq: string) {
  const verdict = await verifyReceiptChain(await receipts(seq), await jwksLookup());
  if (!verdict.ok) throw new Error(verdict.reason);
  return verdict.receipts;
}

describe("offline replay reproduces every decision", () => {
  it("deployment with denials: skip, wrong tool, replay, out of order, seal, after seal", async () => {
    const { seq, capability } = await start("deployment");
    const canary = { ...PARAMS.deployment, percent: 5 };
    await redeem(KEY.deployer, capability, "deploy.rollout", PARAMS.deployment);
    await redeem(KEY.db, capability, "deploy.canary", canary);
    await redeem(KEY.deployer, capability, "deploy.canary", { ...canary, percent: 50 });
    await redeem(KEY.deployer, capability, "deploy.canary", canary);
    await redeem(KEY.deployer, capability, "deploy.canary", canary);
    await submitEvidence(seq, await attest({ seq, stage: "canary", type: "canary_passed", facts: { ...PARAMS.deployment, error_rate: 0.5 } }));
    const passed = await submitEvidence(seq, await attest({ seq, stage: "canary", type: "canary_passed", facts: { ...PARAMS.deployment, error_rate: 0 } }));
    await redeem(KEY.deployer, passed.body.capability, "deploy.rollout", PARAMS.deployment);
    const chain = await verifiedChain(seq);
    expect(chain.map((r) => r.code ?? r.decision)).toContain("CONDITION_FAILED");
    const result = await replayChain(chain, await compileWorkflow(deployment));
    expect(result).toEqual({ decisions: chain.length, divergences: [] });
  });

  it("reimbursement with escalation, separation of duties, budget refusals", async () => {
    const { seq } = await start("reimbursement");
    await submitEvidence(seq, await attest({ attester: "expense-checker", seq, stage: "gather", type: "summary_complete", facts: { report: PARAMS.reimbursement.report, total: 500 } }));
    await approve(seq, "alice");
    await approve(seq, "sam");
    const opened = await approve(seq, "fran");
    const pay = (amount: number) => redeem(KEY.payments, opened.body.capability, "payment.send", { employee: "alice", currency: "EUR", amount });
    for (const amount of [300, 300, 150, 50]) await pay(amount);
    const chain = await verifiedChain(seq);
    expect(chain.map((r) => r.decision)).toContain("ESCALATE");
    const result = await replayChain(chain, await compileWorkflow(reimbursement));
    expect(result.divergences).toEqual([]);
  });

  it("sender-constrained incident response (DPoP proofs are replayed from the receipts)", async () => {
    const { generateKeyPair, exportJWK } = await import("jose");
    const { createDpopProof } = await import("../src/tokens/dpop.js");
    const { privateKey, publicKey } = await generateKeyPair("EdDSA", { extractable: true });
    const publicJwk = { ...(await exportJWK(publicKey)), kid: "a", alg: "EdDSA" };
    const { seq, capability } = await start("incident-response", { body: { actor_jwk: publicJwk } });
    const htu = "https://observability.example/logs";
    const proof = await createDpopProof(privateKey, publicJwk, { htm: "POST", htu, accessToken: capability, iat: Math.floor(Date.now() / 1000) });
    const body = (dpop?: unknown) => ({ token: capability, action: "logs.read", args: { service: "checkout" }, ...(dpop ? { dpop } : {}) });
    await api("POST", "/v1/redeem", { key: KEY.observability, body: body() });
    await api("POST", "/v1/redeem", { key: KEY.observability, body: body({ proof, htm: "POST", htu }) });
    await api("POST", "/v1/redeem", { key: KEY.observability, body: body({ proof, htm: "POST", htu }) });
    const chain = await verifiedChain(seq);
    expect(chain.map((r) => r.code)).toEqual([null, "TOKEN_INVALID", null, "REPLAY_NONCE"]);
    expect((await replayChain(chain, await compileWorkflow(incidentResponse))).divergences).toEqual([]);
  });

  it("data migration and code review, with stale evidence, wrong commits and a revoke", async () => {
    const migration = await start("data-migration");
    const table = PARAMS["data-migration"];
    const backup = await redeem(KEY.db, migration.capability, "db.backup", { table: table.table });
    const stale = await attest({ attester: "backup-checker", seq: migration.seq, stage: "backup", type: "backup_verified", iat: Math.floor(Date.now() / 1000) - 7200, facts: { table: table.table, backup: table.backup, rows_match: true } });
    await submitEvidence(migration.seq, stale);
    await api("POST", `/v1/sequences/${migration.seq}/revoke`, { key: KEY.orchestrator, body: { reason: "changed plans" } });
    expect(backup.status).toBeLessThan(500);
    const review = await start("code-review");
    const commit = PARAMS["code-review"].commit;
    await redeem(KEY.ci, review.capability, "ci.run_tests", { repo: "acme/shop", commit: "f".repeat(40) });
    await redeem(KEY.ci, review.capability, "ci.run_tests", { repo: "acme/shop", commit });
    await submitEvidence(review.seq, await attest({ attester: "ci", seq: review.seq, stage: "test", type: "tests_passed", facts: { repo: "acme/shop", commit: "e".repeat(40), failed: 0 } }));
    for (const [seq, workflow] of [[migration.seq, dataMigration], [review.seq, codeReview]] as const) {
      const chain = await verifiedChain(seq);
      expect(chain.length).toBeGreaterThan(2);
      expect((await replayChain(chain, await compileWorkflow(workflow))).divergences).toEqual([]);
    }
  });

  it("a flipped decision is found (the replay does not trust the record)", async () => {
    const { seq, capability } = await start("deployment");
    await redeem(KEY.deployer, capability, "deploy.canary", { ...PARAMS.deployment, percent: 50 });
    const chain = await verifiedChain(seq);
    const flipped = chain.map((r) => (r.n === 1 ? { ...r, decision: "ALLOW" as const, code: null } : r));
    const result = await replayChain(flipped, await compileWorkflow(deployment));
    expect(result.divergences).toMatchObject([{ n: 1, what: "decision", replayed: { decision: "DENY", code: "CONDITION_FAILED" } }]);
  });
});

describe("what-if: the same requests under another workflow version", () => {
  it("lists every decision that changes, with the condition that flipped", async () => {
    const { seq, capability } = await start("deployment");
    await redeem(KEY.deployer, capability, "deploy.canary", { ...PARAMS.deployment, percent: 8 });
    const chain = await verifiedChain(seq);
    const stricter = structuredClone(deployment) as typeof deployment;
    stricter.stages[0]!.grants[0]!.where = "args.service == params.service && args.version == params.version && args.percent <= 5";
    const result = await replayChain(chain, await compileWorkflow(stricter), "whatif");
    expect(result.divergences).toEqual([
      expect.objectContaining({ n: 1, recorded: expect.objectContaining({ decision: "ALLOW" }), replayed: expect.objectContaining({ decision: "DENY", code: "CONDITION_FAILED" }), condition: stricter.stages[0]!.grants[0]!.where }),
    ]);
    // The same version changes nothing.
    expect((await replayChain(chain, await compileWorkflow(deployment), "whatif")).divergences).toEqual([]);
    expect(decodeJwt(capability).workflow).toBe(claimsOf((await receipts(seq))[0]!).workflow);
  });
});
