import { env } from "cloudflare:workers";
import { evictDurableObject } from "cloudflare:test";
import { createLocalJWKSet, decodeJwt, jwtVerify } from "jose";
import { describe, expect, it, vi } from "vitest";
import { verifyReceiptChain } from "../src/audit/verify-chain.js";
import { KEY, PARAMS, api, attest, jwksLookup, claimsOf, describe_, receipts, redeem, start, submitEvidence } from "./helpers.js";

const canaryArgs = { ...PARAMS.deployment, percent: 5 };

async function finishedDeployment() {
  const { seq, capability } = await start("deployment");
  await redeem(KEY.deployer, capability, "deploy.canary", { ...canaryArgs, percent: 50 }); // a DENY in the chain
  await redeem(KEY.deployer, capability, "deploy.canary", canaryArgs);
  const advanced = await submitEvidence(seq, await attest({ seq, stage: "canary", type: "canary_passed", facts: { ...PARAMS.deployment, error_rate: 0 } }));
  await redeem(KEY.deployer, advanced.body.capability, "deploy.rollout", PARAMS.deployment);
  return seq;
}

describe("the gate under concurrency", () => {
  it("50 concurrent redeems of one single-use token: exactly one ALLOW, the rest REPLAY_NONCE", async () => {
    const { seq, capability } = await start("deployment");
    const results = await Promise.all(Array.from({ length: 50 }, () => redeem(KEY.deployer, capability, "deploy.canary", canaryArgs)));
    const allowed = results.filter((r) => r.status === 200);
    const replays = results.filter((r) => r.body.error?.code === "REPLAY_NONCE");
    expect(allowed).toHaveLength(1);
    expect(replays).toHaveLength(49);
    const chain = await receipts(seq);
    expect(chain.filter((r) => claimsOf(r).decision === "ALLOW" && claimsOf(r).kind === "redeem")).toHaveLength(1);
    expect((await verifyReceiptChain(chain, await jwksLookup())).ok).toBe(true);
  });

  it("concurrent redeems of a multi-use grant never exceed its uses", async () => {
    const { seq, capability } = await start("code-review"); // ci.run_tests: 2 uses
    const args = { repo: "acme/shop", commit: PARAMS["code-review"].commit };
    const results = await Promise.all(Array.from({ length: 20 }, () => redeem(KEY.ci, capability, "ci.run_tests", args)));
    expect(results.filter((r) => r.status === 200)).toHaveLength(2);
    expect(results.filter((r) => r.body.error?.code === "REPLAY_NONCE")).toHaveLength(18);
    expect((await describe_(seq)).body.uses[0].used).toBe(2);
  });

  it("concurrent submissions of one attestation advance the sequence once", async () => {
    const { seq } = await start("deployment");
    const passed = await attest({ seq, stage: "canary", type: "canary_passed", facts: { ...PARAMS.deployment, error_rate: 0 } });
    const results = await Promise.all(Array.from({ length: 20 }, () => submitEvidence(seq, passed)));
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.body.error?.code === "REPLAY_NONCE")).toHaveLength(19);
  });

  it("evicting the Durable Object between mint and redeem changes nothing", async () => {
    const { seq, capability } = await start("deployment");
    const stub = env.SEQUENCES.get(env.SEQUENCES.idFromString(seq));
    await evictDurableObject(stub);
    expect((await redeem(KEY.deployer, capability, "deploy.canary", canaryArgs)).status).toBe(200);
    await evictDurableObject(stub);
    expect((await redeem(KEY.deployer, capability, "deploy.canary", canaryArgs)).body.error.code).toBe("REPLAY_NONCE");
  });
});

describe("sequences are separate", () => {
  it("a token of sequence A handed to sequence B's ledger is refused", async () => {
    const a = await start("deployment");
    const b = await start("deployment");
    const stubB = env.SEQUENCES.get(env.SEQUENCES.idFromString(b.seq));
    const claims = decodeJwt(a.capability) as any;
    const answer = await stubB.redeem({
      caller: { id: "deployer", role: "tool:deployer" },
      tool: "deployer",
      action: "deploy.canary",
      args: canaryArgs,
      token: claims,
      tokenDigest: "x",
    });
    expect(answer).toMatchObject({ kind: "refused", error: { code: "TOKEN_INVALID" } });
    // A's token still works on A: B's refusal consumed nothing of A.
    expect((await redeem(KEY.deployer, a.capability, "deploy.canary", canaryArgs)).status).toBe(200);
  });
});

describe("receipts", () => {
  it("a finished sequence's chain verifies: signatures, n, prev links, seal last, head matches", async () => {
    const seq = await finishedDeployment();
    const chain = await receipts(seq);
    const verdict = await verifyReceiptChain(chain, await jwksLookup());
    expect(verdict.ok).toBe(true);
    if (!verdict.ok) return;
    expect(verdict.sealed).toBe(true);
    expect(verdict.receipts.map((r) => [r.kind, r.decision, r.code])).toEqual([
      ["start", "ALLOW", null],
      ["redeem", "DENY", "CONDITION_FAILED"],
      ["redeem", "ALLOW", null],
      ["evidence", "ALLOW", null],
      ["redeem", "ALLOW", null],
    ]);
    expect(verdict.head).toEqual((await describe_(seq)).body.head);
    for (const receipt of verdict.receipts) expect(receipt.seq).toBe(seq);
  });

  it("altering any byte of any receipt breaks the chain", async () => {
    const seq = await finishedDeployment();
    const chain = await receipts(seq);
    const keys = await jwksLookup();
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let tried = 0;
    for (const [index, receipt] of chain.entries()) {
      for (let position = 0; position < receipt.length; position++) {
        const char = receipt[position] as string;
        if (char === ".") continue;
        const replacement = alphabet[(alphabet.indexOf(char) + 1) % 64] as string;
        const altered = [...chain];
        altered[index] = receipt.slice(0, position) + replacement + receipt.slice(position + 1);
        const verdict = await verifyReceiptChain(altered, keys);
        expect(verdict.ok, `receipt ${index}, character ${position}`).toBe(false);
        tried++;
      }
    }
    expect(tried).toBeGreaterThan(1000);
  });

  it("removing, reordering, or appending another sequence's receipt breaks the chain", async () => {
    const seq = await finishedDeployment();
    const other = await finishedDeployment();
    const chain = await receipts(seq);
    const keys = await jwksLookup();
    expect((await verifyReceiptChain([...chain.slice(0, 2), ...chain.slice(3)], keys)).ok).toBe(false);
    const swapped = [...chain];
    [swapped[1], swapped[2]] = [swapped[2] as string, swapped[1] as string];
    expect((await verifyReceiptChain(swapped, keys)).ok).toBe(false);
    expect((await verifyReceiptChain([...chain.slice(0, 1), ...(await receipts(other)).slice(1)], keys)).ok).toBe(false);
  });

  it("receipts and capabilities verify offline against the published JWKS", async () => {
    const { capability, receipt } = await start("deployment");
    const jwks = createLocalJWKSet((await api("GET", "/.well-known/jwks.json")).body as any);
    const verified = await jwtVerify(capability, jwks, { issuer: "https://baton.test", audience: "deployer", typ: "baton-capability+jwt" });
    expect(verified.payload.stage).toBe("canary");
    await expect(jwtVerify(receipt, jwks, { typ: "baton-receipt+jwt" })).resolves.toBeTruthy();
    // The typ separates the kinds: a receipt is never a capability.
    await expect(jwtVerify(receipt, jwks, { typ: "baton-capability+jwt" })).rejects.toThrow();
  });

  it("exports page through long chains in order (?after=n)", async () => {
    const { seq, capability } = await start("two-keys"); // db.read: 50 uses
    await Promise.all(Array.from({ length: 30 }, (_, i) => redeem(KEY.db, capability, "db.read", { rows: i })));
    const chain = await receipts(seq);
    expect(chain).toHaveLength(31);
    expect(chain.map((r) => claimsOf(r).n)).toEqual(Array.from({ length: 31 }, (_, i) => i));
    const tail = await api<string>("GET", `/v1/sequences/${seq}/receipts?after=28`, { key: KEY.auditor });
    expect(tail.body.trim().split("\n").map((r) => claimsOf(r).n)).toEqual([29, 30]);
  });
});

describe("idempotency", () => {
  it("a retried start with the same Idempotency-Key gets the same sequence and the same token", async () => {
    const headers = { "idempotency-key": crypto.randomUUID() };
    const first = await start("deployment", { headers });
    const again = await start("deployment", { headers });
    expect(again).toEqual(first);
    expect(await receipts(first.seq)).toHaveLength(1);
  });

  it("a retried evidence submission returns the same next capability; the attestation is spent once", async () => {
    const { seq } = await start("deployment");
    const passed = await attest({ seq, stage: "canary", type: "canary_passed", facts: { ...PARAMS.deployment, error_rate: 0 } });
    const headers = { "idempotency-key": "advance-1" };
    const first = await submitEvidence(seq, passed, KEY.agent, headers);
    const retry = await submitEvidence(seq, passed, KEY.agent, headers);
    expect(first.status).toBe(200);
    expect(retry.body).toEqual(first.body);
    // Without the key, the same attestation is a replay.
    expect((await submitEvidence(seq, passed)).body.error.code).toBe("REPLAY_NONCE");
    const other = await attest({ seq, stage: "rollout", type: "canary_passed", facts: {} });
    expect((await submitEvidence(seq, other, KEY.agent, headers)).body.error.code).toBe("IDEMPOTENCY_CONFLICT");
  });
});

describe("the agent's current capability", () => {
  it("returns the live token unchanged, re-issues an expired one within the limit, then refuses", async () => {
    // The test's clock (a fake Date, which the Worker and its Durable Objects share with the test in
    // workerd, as test/model relies on): frozen, so a 1 s token is live for as long as the test says,
    // and moved a second past each exp instead of sleeping through it.
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      const { seq, capability } = await start("short-lived"); // ttl 1 s, one re-issue
      const live = await api("POST", `/v1/sequences/${seq}/capability`, { key: KEY.agent });
      expect(live.body.capability).toBe(capability);
      vi.setSystemTime((decodeJwt(capability).exp as number) * 1000 + 1000);
      const reissued = await api("POST", `/v1/sequences/${seq}/capability`, { key: KEY.agent });
      expect(reissued.status).toBe(200);
      expect(reissued.body.capability).not.toBe(capability);
      expect(claimsOf(reissued.body.receipt).kind).toBe("reissue");
      // The old token is expired; the new one works and shares the stage's use counter.
      expect((await redeem(KEY.deployer, reissued.body.capability, "ticket.work")).status).toBe(200);
      vi.setSystemTime((decodeJwt(reissued.body.capability).exp as number) * 1000 + 1000);
      const limit = await api("POST", `/v1/sequences/${seq}/capability`, { key: KEY.agent });
      expect([limit.status, limit.body.error.code]).toEqual([403, "SCOPE_EXCEEDED"]);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("discovery and docs", () => {
  it("publishes metadata, an OpenAPI document generated from the routes, and a docs page", async () => {
    const meta = await api("GET", "/.well-known/baton-configuration");
    expect(meta.body.issuer).toBe("https://baton.test");
    expect(meta.body.signing_alg_values_supported).toEqual(["EdDSA"]);
    const doc = await api("GET", "/openapi.json");
    expect(Object.keys(doc.body.paths)).toEqual(
      expect.arrayContaining(["/v1/redeem", "/v1/sequences", "/v1/sequences/{id}/evidence", "/.well-known/jwks.json"]),
    );
    expect(doc.body.paths["/v1/redeem"].post.requestBody.content["application/json"].schema).toBeTruthy();
    // The page loads Swagger UI from the Worker's own assets, which read /openapi.json
    // (rendered in Chromium by test/node/docs-page.test.ts).
    const docs = await api<string>("GET", "/docs");
    expect(docs.status).toBe(200);
    expect(docs.body).toContain('<script src="/docs/swagger-ui-bundle.js"></script>');
    const init = await api<string>("GET", "/docs/init.js");
    expect(init.body).toContain('url: "/openapi.json"');
    const bundle = await api<string>("GET", "/docs/swagger-ui-bundle.js");
    expect([bundle.status, bundle.headers.get("content-type")]).toEqual([200, "text/javascript; charset=utf-8"]);
    expect(bundle.body).toContain("SwaggerUIBundle");
  });

  it("lists workflows with their version hashes", async () => {
    const list = await api("GET", "/v1/workflows", { key: KEY.auditor });
    const ids = list.body.workflows.map((w: any) => w.id);
    expect(ids).toEqual(expect.arrayContaining(["deployment", "data-migration", "code-review"]));
    const one = await api("GET", "/v1/workflows/deployment", { key: KEY.auditor });
    expect(one.body.hash).toBe(list.body.workflows.find((w: any) => w.id === "deployment").hash);
    expect(one.body.hash).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});
