import { decodeJwt } from "jose";
import { describe, expect, it } from "vitest";
import incidentResponse from "../examples/workflows/incident-response.json";
import deployment from "../examples/workflows/deployment.json";
import codeReview from "../examples/workflows/code-review.json";
import dataMigration from "../examples/workflows/data-migration.json";
import reimbursement from "../examples/workflows/reimbursement.json";
import { replayChain } from "../src/audit/replay.js";
import { verifyReceiptChain } from "../src/audit/verify-chain.js";
import { type CompiledWorkflow, compileWorkflow } from "../src/policy/compile.js";
import { createKeyring } from "../src/tokens/keys.js";
import { type ReceiptClaims, receiptHash, signReceipt } from "../src/tokens/receipt.js";
import batonTestKeys from "./fixtures/signing-keys.test-only.json";
import { type ApiResult, KEY, PARAMS, api, approve, attest, claimsOf, jwksLookup, receipts, redeem, start, submitEvidence } from "./helpers.js";

async function verifiedChain(seq: string) {
  const verdict = await verifyReceiptChain(await receipts(seq), await jwksLookup());
  if (!verdict.ok) throw new Error(verdict.reason);
  return verdict.receipts;
}

/** What a request was answered: the decision's code (null for ALLOW), or ESCALATE's. */
const answered = (r: ApiResult<Record<string, any>>) => r.body.error?.code ?? r.body.code ?? null;

/** The chain as `kind code` pairs (code null for an ALLOW). */
const shape = (chain: readonly ReceiptClaims[]) => chain.map((r) => `${r.kind} ${r.decision}${r.code ? ` ${r.code}` : ""}`);

/** After the seal nothing is decided: SEALED_SEQUENCE, and the chain does not grow. */
async function refusedAfterSeal(seq: string, attempt: () => Promise<ApiResult<Record<string, any>>>) {
  const before = await receipts(seq);
  const result = await attempt();
  expect([result.status, answered(result)], JSON.stringify(result.body)).toEqual([409, "SEALED_SEQUENCE"]);
  expect(await receipts(seq)).toEqual(before);
}

/**
 * The replay is not a rubber stamp: every receipt of the chain, its recorded
 * decision (or, for a denial, its code) altered, is found — exactly there, and
 * with what the policy really decided.
 */
async function everyAlterationFound(chain: readonly ReceiptClaims[], workflow: CompiledWorkflow) {
  for (const receipt of chain) {
    const altered: Pick<ReceiptClaims, "decision" | "code"> =
      receipt.decision === "DENY" ? { decision: "DENY", code: receipt.code === "SCOPE_EXCEEDED" ? "REPLAY_NONCE" : "SCOPE_EXCEEDED" } : { decision: "DENY", code: "SCOPE_EXCEEDED" };
    const tampered = chain.map((r) => (r.n === receipt.n ? { ...r, ...altered } : r));
    const { divergences } = await replayChain(tampered, workflow);
    expect(divergences, `receipt ${receipt.n} (${receipt.kind} ${receipt.decision} ${receipt.code})`).toEqual([
      expect.objectContaining({
        n: receipt.n,
        what: receipt.decision === "DENY" ? "code" : "decision",
        replayed: { decision: receipt.decision, code: receipt.code, message: receipt.message },
      }),
    ]);
  }
}

describe("offline replay reproduces every decision", () => {
  it("deployment with denials: skip, wrong tool, replay, out of order, seal, after seal", async () => {
    const { seq, capability } = await start("deployment");
    const canary = { ...PARAMS.deployment, percent: 5 };
    // Skipping the canary: the rollout is granted, but by a later stage.
    expect(answered(await redeem(KEY.deployer, capability, "deploy.rollout", PARAMS.deployment))).toBe("SEQUENCE_VIOLATION");
    // The wrong tool.
    expect(answered(await redeem(KEY.db, capability, "deploy.canary", canary))).toBe("AUDIENCE_MISMATCH");
    expect(answered(await redeem(KEY.deployer, capability, "deploy.canary", { ...canary, percent: 50 }))).toBe("CONDITION_FAILED");
    expect(answered(await redeem(KEY.deployer, capability, "deploy.canary", canary))).toBeNull();
    // The replay of the spent single-use token.
    expect(answered(await redeem(KEY.deployer, capability, "deploy.canary", canary))).toBe("REPLAY_NONCE");
    const failing = await attest({ seq, stage: "canary", type: "canary_passed", facts: { ...PARAMS.deployment, error_rate: 0.5 } });
    expect(answered(await submitEvidence(seq, failing))).toBe("CONDITION_FAILED");
    const passed = await submitEvidence(seq, await attest({ seq, stage: "canary", type: "canary_passed", facts: { ...PARAMS.deployment, error_rate: 0 } }));
    expect(passed.body).toMatchObject({ decision: "ALLOW", stage: "rollout" });
    // Out of order: the canary token once the rollout is the current stage.
    expect(answered(await redeem(KEY.deployer, capability, "deploy.canary", canary))).toBe("SEQUENCE_VIOLATION");
    // The seal: the last use of the last stage.
    const rollout = await redeem(KEY.deployer, passed.body.capability, "deploy.rollout", PARAMS.deployment);
    expect(rollout.body).toMatchObject({ decision: "ALLOW", sealed: true });
    // After the seal: the rollout token again, and evidence.
    await refusedAfterSeal(seq, () => redeem(KEY.deployer, passed.body.capability, "deploy.rollout", PARAMS.deployment));
    await refusedAfterSeal(seq, async () => submitEvidence(seq, await attest({ seq, stage: "rollout", type: "canary_passed", facts: {} })));

    const chain = await verifiedChain(seq);
    expect(shape(chain)).toEqual([
      "start ALLOW",
      "redeem DENY SEQUENCE_VIOLATION",
      "redeem DENY AUDIENCE_MISMATCH",
      "redeem DENY CONDITION_FAILED",
      "redeem ALLOW",
      "redeem DENY REPLAY_NONCE",
      "evidence DENY CONDITION_FAILED",
      "evidence ALLOW",
      "redeem DENY SEQUENCE_VIOLATION",
      "redeem ALLOW",
    ]);
    expect(chain.at(-1)?.effects).toContainEqual({ type: "seal", reason: "completed" });
    const workflow = await compileWorkflow(deployment);
    expect(await replayChain(chain, workflow)).toEqual({ decisions: chain.length, divergences: [] });
    await everyAlterationFound(chain, workflow);
  });

  it("a forged decision signed with Baton's own key and re-chained verifies, and only the replay finds it", async () => {
    // The insider case: whoever holds the signing key rewrites the REPLAY_NONCE denial as an ALLOW.
    const { seq, capability } = await start("deployment");
    const canary = { ...PARAMS.deployment, percent: 5 };
    await redeem(KEY.deployer, capability, "deploy.canary", canary);
    expect(answered(await redeem(KEY.deployer, capability, "deploy.canary", canary))).toBe("REPLAY_NONCE");
    await submitEvidence(seq, await attest({ seq, stage: "canary", type: "canary_passed", facts: { ...PARAMS.deployment, error_rate: 0 } }));
    const jws = await receipts(seq);
    const { "//": _comment, ...keyset } = batonTestKeys;
    const keyring = await createKeyring(keyset);
    const forged: string[] = [];
    for (const [n, original] of jws.entries()) {
      const claims = claimsOf(original);
      if (n === 2) Object.assign(claims, { decision: "ALLOW", code: null, message: "deploy.canary allowed for deployer" });
      if (n > 0) claims.prev = await receiptHash(forged[n - 1] as string);
      forged.push(n >= 2 ? await signReceipt(keyring, claims) : original);
    }
    const verdict = await verifyReceiptChain(forged, await jwksLookup());
    if (!verdict.ok) throw new Error(`the forged chain should verify: ${verdict.reason}`);
    expect(verdict.receipts[2]).toMatchObject({ decision: "ALLOW", code: null });
    const { divergences } = await replayChain(verdict.receipts, await compileWorkflow(deployment));
    expect(divergences).toEqual([
      expect.objectContaining({ n: 2, what: "decision", recorded: expect.objectContaining({ decision: "ALLOW" }), replayed: expect.objectContaining({ decision: "DENY", code: "REPLAY_NONCE" }) }),
    ]);
  });

  it("reimbursement with escalation, separation of duties, budget refusals", async () => {
    const { seq } = await start("reimbursement");
    const summary = await attest({ attester: "expense-checker", seq, stage: "gather", type: "summary_complete", facts: { report: PARAMS.reimbursement.report, total: 500 } });
    const escalated = await submitEvidence(seq, summary);
    expect([escalated.status, escalated.body.decision, answered(escalated)]).toEqual([202, "ESCALATE", "APPROVAL_REQUIRED"]);
    // Separation of duties: alice is a finance manager and the subject of this sequence.
    const own = await approve(seq, "alice");
    expect(own.body.error).toMatchObject({ code: "EVIDENCE_INVALID", message: "separation of duties: alice is the subject of this sequence" });
    const outsider = await approve(seq, "sam");
    expect(outsider.body.error).toMatchObject({ code: "EVIDENCE_INVALID", message: "approver sam is not in group finance-managers" });
    const opened = await approve(seq, "fran");
    expect(opened.body).toMatchObject({ decision: "ALLOW", stage: "pay" });
    const pay = (amount: number) => redeem(KEY.payments, opened.body.capability, "payment.send", { employee: "alice", currency: "EUR", amount });
    expect(answered(await pay(300))).toBeNull();
    // The budget: 300 more would make 600 of 500.
    const over = await pay(300);
    expect(over.body.error).toMatchObject({ code: "SCOPE_EXCEEDED", details: { remaining: 200, requested: 300 } });
    expect(answered(await pay(150))).toBeNull();
    expect((await pay(50)).body).toMatchObject({ decision: "ALLOW", sealed: true });
    await refusedAfterSeal(seq, () => pay(1));

    const chain = await verifiedChain(seq);
    expect(shape(chain)).toEqual([
      "start ALLOW",
      "evidence ESCALATE APPROVAL_REQUIRED",
      "approval DENY EVIDENCE_INVALID",
      "approval DENY EVIDENCE_INVALID",
      "approval ALLOW",
      "redeem ALLOW",
      "redeem DENY SCOPE_EXCEEDED",
      "redeem ALLOW",
      "redeem ALLOW",
    ]);
    const workflow = await compileWorkflow(reimbursement);
    expect((await replayChain(chain, workflow)).divergences).toEqual([]);
    await everyAlterationFound(chain, workflow);
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
    const workflow = await compileWorkflow(incidentResponse);
    expect((await replayChain(chain, workflow)).divergences).toEqual([]);
    await everyAlterationFound(chain, workflow);
  });

  it("data migration and code review, with stale evidence, wrong commits and a revoke", async () => {
    const migration = await start("data-migration");
    const table = PARAMS["data-migration"];
    const backup = await redeem(KEY.db, migration.capability, "db.backup", { table: table.table, backup: table.backup });
    expect(backup.body.decision).toBe("ALLOW");
    // Stale: the backup check is two hours old, the gate takes 10 minutes (the facts are right).
    const staleFacts = { table: table.table, backup: table.backup, rows_missing: 0 };
    const stale = await attest({ attester: "backup-checker", seq: migration.seq, stage: "backup", type: "backup_verified", iat: Math.floor(Date.now() / 1000) - 7200, facts: staleFacts });
    const refused = await submitEvidence(migration.seq, stale);
    expect(refused.body.error).toMatchObject({ code: "EVIDENCE_STALE", message: "attestation is older than 600s" });
    // The revoke seals; after it, even fresh, correct evidence is refused.
    const revoked = await api("POST", `/v1/sequences/${migration.seq}/revoke`, { key: KEY.orchestrator, body: { reason: "changed plans" } });
    expect(revoked.body).toMatchObject({ decision: "ALLOW", sealed: true });
    const fresh = await attest({ attester: "backup-checker", seq: migration.seq, stage: "backup", type: "backup_verified", facts: staleFacts });
    await refusedAfterSeal(migration.seq, () => submitEvidence(migration.seq, fresh));

    const review = await start("code-review");
    const commit = PARAMS["code-review"].commit;
    const wrongCommit = await redeem(KEY.ci, review.capability, "ci.run_tests", { repo: "acme/shop", commit: "f".repeat(40) });
    expect(answered(wrongCommit)).toBe("CONDITION_FAILED");
    expect(answered(await redeem(KEY.ci, review.capability, "ci.run_tests", { repo: "acme/shop", commit }))).toBeNull();
    const otherCommit = await attest({ attester: "ci", seq: review.seq, stage: "test", type: "tests_passed", facts: { repo: "acme/shop", commit: "e".repeat(40), failed: 0 } });
    expect(answered(await submitEvidence(review.seq, otherCommit))).toBe("CONDITION_FAILED");

    const expected = {
      [migration.seq]: ["start ALLOW", "redeem ALLOW", "evidence DENY EVIDENCE_STALE", "revoke ALLOW"],
      [review.seq]: ["start ALLOW", "redeem DENY CONDITION_FAILED", "redeem ALLOW", "evidence DENY CONDITION_FAILED"],
    };
    for (const [seq, workflow] of [[migration.seq, dataMigration], [review.seq, codeReview]] as const) {
      const chain = await verifiedChain(seq);
      expect(shape(chain)).toEqual(expected[seq]);
      const compiled = await compileWorkflow(workflow);
      expect((await replayChain(chain, compiled)).divergences).toEqual([]);
      await everyAlterationFound(chain, compiled);
    }
    expect((await verifiedChain(migration.seq)).at(-1)?.effects).toEqual([{ type: "seal", reason: "revoked" }]);
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
