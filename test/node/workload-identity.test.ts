import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type JWK, SignJWT, decodeJwt, generateKeyPair, importJWK } from "jose";
import { signAttestation } from "../../src/client/index.js";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import release from "../../examples/workflows/release.json";
import { replayChain, verifyReceiptChain, workloadTokenProblem } from "../../src/audit/index.js";
import { compileWorkflow } from "../../src/policy/compile.js";
import type { ReceiptClaims } from "../../src/tokens/receipt.js";
import { DEV_KEY } from "../verifier/baton-under-test.js";
import { type CanaryService, startCanaryService } from "./canary-service.js";
import { type JobClaims, type LocalIssuer, startIssuer } from "./oidc-issuer.js";
import { type PrometheusServer, instantValue, prometheusTestsRun, startPrometheus } from "./prometheus-server.js";
import { runBaton, until } from "./run-cli.js";

// Black box: the `wrangler dev` of the global setup, whose github-actions attester is declared
// by issuer — the OpenID provider below, on the port the setup configured — and whose
// offline-ci attester's issuer never answers. The release workflow (examples/workflows/release.json)
// opens its canary on the release job's token. Every refusal is receipted and changes nothing.
const base = inject("batonUrl");
const ROOT = join(import.meta.dirname, "..", "..");
const COMMIT = "3f786850e387550fdab836ed7e6dc881de23001b";
const PARAMS = { repo: "example-org/shop", commit: COMMIT, service: "shop", version: "1.4.0" };
const RELEASE_JOB: JobClaims = {
  repository: "example-org/shop",
  repository_owner: "example-org",
  sha: COMMIT,
  ref: "refs/heads/main",
  job_workflow_ref: "example-org/shop/.github/workflows/release.yml@refs/heads/main",
  event_name: "push",
  run_id: "9182736450",
};
let issuer: LocalIssuer;

beforeAll(async () => {
  issuer = await startIssuer(inject("oidcPort"));
});
afterAll(() => issuer?.close());

async function call(method: string, path: string, key: string, body?: unknown) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  return { status: response.status, body: (response.headers.get("content-type")?.includes("json") ? JSON.parse(text) : text) as Record<string, any> };
}

async function startRelease(params: Record<string, unknown> = PARAMS) {
  const started = await call("POST", "/v1/sequences", DEV_KEY.orchestrator, { workflow: "release", params, subject: "user:alice", actor: "agent-7" });
  expect(started.status).toBe(201);
  return started.body.sequence as string;
}

const audienceOf = (seq: string) => `${base}/v1/sequences/${seq}`;
const submit = (seq: string, attestation: string) => call("POST", `/v1/sequences/${seq}/evidence`, DEV_KEY.agent, { attestation });
const stageOf = async (seq: string) => (await call("GET", `/v1/sequences/${seq}`, DEV_KEY.auditor)).body.stage.id as string;

/** A refusal: its code, receipted as a DENY of kind evidence, and the sequence still where it was. */
async function expectRefused(seq: string, attestation: string, code: string, message?: RegExp) {
  const before = await stageOf(seq);
  const refused = await submit(seq, attestation);
  expect(refused.body.error?.code, JSON.stringify(refused.body)).toBe(code);
  if (message) expect(refused.body.error.message).toMatch(message);
  const receipt = decodeJwt(refused.body.error.receipt) as unknown as ReceiptClaims;
  expect([receipt.kind, receipt.decision, receipt.code, receipt.effects]).toEqual(["evidence", "DENY", code, []]);
  expect(await stageOf(seq)).toBe(before);
  return receipt;
}

/** A token signed by a key the issuer never published, with its iss and a genuine-looking kid. */
async function forged(seq: string, kid: string, iss = issuer.issuer) {
  const { privateKey } = await generateKeyPair("RS256");
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ ...RELEASE_JOB, iss, aud: audienceOf(seq), sub: "repo:example-org/shop:ref:refs/heads/main", iat: now, nbf: now, exp: now + 300, jti: crypto.randomUUID() })
    .setProtectedHeader({ alg: "RS256", typ: "JWT", kid })
    .sign(privateKey);
}

async function monitorAttests(seq: string) {
  const { "//": _c, ...privateJwk } = JSON.parse(readFileSync(join(ROOT, "examples", "keys", "monitor.private.jwk.json"), "utf8"));
  return signAttestation({ privateJwk, attester: "monitor", seq, stage: "canary", type: "canary_passed", facts: { service: "shop", version: "1.4.0", error_rate: 0.002 } });
}

/** The sequence's receipts as an auditor exports them, Baton's JWKS, and the chain checked offline. */
async function exportedChain(seq: string) {
  const lines = String((await call("GET", `/v1/sequences/${seq}/receipts`, DEV_KEY.auditor)).body).trim().split("\n");
  const jwks = (await (await fetch(`${base}/.well-known/jwks.json`)).json()) as { keys: JWK[] };
  const batonKeys = new Map(await Promise.all(jwks.keys.map(async (k) => [k.kid as string, { key: (await importJWK(k, "EdDSA")) as CryptoKey, alg: "EdDSA" }] as const)));
  const chain = await verifyReceiptChain(lines, (kid) => batonKeys.get(kid));
  if (!chain.ok) throw new Error(chain.reason);
  return { lines, jwks, chain };
}

// The release example end to end with no signature made by the test: the provider above issues
// the release job's token, which opens the canary; a real Prometheus scrapes the canary, and
// `baton attest probe` signs canary_passed only once its error rate is under 1%, which opens the
// rollout; the rollout's use seals the sequence. (The probe's refusals: probe-prometheus.test.ts.)
const QUERY = 'sum(rate(http_requests_total{code=~"5..",version="1.4.0"}[5s])) / sum(rate(http_requests_total{version="1.4.0"}[5s]))';

function PROBE(prometheus: PrometheusServer, seq: string) {
  return runBaton([
    "attest", "probe",
    "--prometheus", prometheus.url, "--query", QUERY, "--max", "0.01", "--for", "5s",
    "--attester", "monitor", "--key", join(ROOT, "examples", "keys", "monitor.private.jwk.json"),
    "--sequence", seq, "--stage", "canary", "--type", "canary_passed",
    "--facts", JSON.stringify({ service: "shop", version: "1.4.0" }), "--value-as", "error_rate",
    "--submit", base, "--api-key", "dev-attester-key",
  ]).done;
}

describe.skipIf(!prometheusTestsRun())("the release example with no signature made by the test: this OpenID provider and a real Prometheus behind baton attest probe", () => {
  let canary: CanaryService;
  let prometheus: PrometheusServer;
  // (in this file: Baton caches the provider's keys, and the provider makes new ones each time it starts)
  function probe(seq: string) {
    return PROBE(prometheus, seq);
  }

  beforeAll(async () => {
    canary = await startCanaryService("1.4.0");
    canary.setErrorRatio(0.05);
    prometheus = await startPrometheus([canary.target]);
    await until("Prometheus to see the canary's 5% errors", async () => ((await instantValue(prometheus.url, QUERY)) ?? 0) > 0.04);
  }, 60_000);

  afterAll(async () => {
    await prometheus?.stop();
    await canary?.close();
  });

  it("the job's token opens the canary; the probe refuses at 5% errors and signs at 0.2%; the rollout seals", { timeout: 90_000 }, async () => {
    const seq = await startRelease();

    const token = await issuer.token({ job: RELEASE_JOB, audience: audienceOf(seq) });
    const opened = await submit(seq, token);
    expect(opened.body, JSON.stringify(opened.body)).toMatchObject({ decision: "ALLOW", stage: "canary" });
    const deployed = await call("POST", "/v1/redeem", DEV_KEY.deployer, { token: opened.body.capability, action: "deploy.canary", args: { service: "shop", version: "1.4.0", percent: 5 } });
    expect(deployed.body.decision).toBe("ALLOW");

    // 5% errors: the probe signs nothing, Baton hears nothing.
    const failing = await probe(seq);
    expect(failing.code, failing.stderr).toBe(1);
    expect(failing.stdout).toBe("");
    expect(await stageOf(seq)).toBe("canary");

    canary.setErrorRatio(0.002);
    await until("the error rate to stay under 1% for 5 s", async () => {
      await new Promise((resolve) => setTimeout(resolve, 6_000));
      return ((await instantValue(prometheus.url, QUERY)) ?? 1) < 0.01;
    }, 60_000);
    let passing = await probe(seq);
    // The window may still hold a point from before the drop: one more try after it has passed.
    if (passing.code === 1) {
      await new Promise((resolve) => setTimeout(resolve, 6_000));
      passing = await probe(seq);
    }
    expect(passing.code, passing.stderr).toBe(0);
    const answer = JSON.parse(passing.stdout);
    expect(answer).toMatchObject({ decision: "ALLOW", stage: "rollout" });
    const facts = (decodeJwt(answer.receipt) as Record<string, any>).inputs.attestation.claims.facts;
    expect(facts).toMatchObject({ service: "shop", version: "1.4.0", check: "prometheus", query: QUERY });
    expect(facts.error_rate).toBeLessThan(0.01);

    const rollout = await call("POST", "/v1/redeem", DEV_KEY.deployer, { token: answer.capability, action: "deploy.rollout", args: { service: "shop", version: "1.4.0" } });
    expect(rollout.body).toMatchObject({ decision: "ALLOW", sealed: true });
  });
});

describe("a GitHub-Actions-shaped OIDC token from a real OpenID provider as an attestation", () => {
  it("the release job's token opens the canary; the monitor's canary_passed the rollout; the chain verifies and replays offline", { timeout: 60_000 }, async () => {
    const seq = await startRelease();
    expect(await stageOf(seq)).toBe("build");
    const token = await issuer.token({ job: RELEASE_JOB, audience: audienceOf(seq) });
    const opened = await submit(seq, token);
    expect(opened.status, JSON.stringify(opened.body)).toBe(200);
    expect(opened.body).toMatchObject({ decision: "ALLOW", stage: "canary", message: "workload_identity accepted; stage canary opened" });
    const capability = decodeJwt(opened.body.capability) as { evidence: { items: unknown[] } };
    expect(capability.evidence.items).toEqual([expect.objectContaining({ iss: "github-actions", type: "workload_identity", jti: decodeJwt(token).jti })]);

    // What the receipt carries for an auditor who cannot fetch the issuer's keys later.
    const receipt = decodeJwt(opened.body.receipt) as unknown as ReceiptClaims;
    const recorded = (receipt.inputs as any).attestation;
    expect(recorded).toMatchObject({ ok: true, method: "oidc", attester: "github-actions", issuer: issuer.issuer, audience: base, seq, kid: "gha-rsa-1", alg: "RS256", token });
    expect(recorded.claims).toMatchObject({ ...RELEASE_JOB, jti: decodeJwt(token).jti, aud: audienceOf(seq) });
    expect(Object.keys(recorded.jwk).sort()).toEqual(["alg", "e", "kid", "kty", "n"]);
    expect(receipt.nonce).toBe(decodeJwt(token).jti);

    // Spent: the same token again is a replay.
    await expectRefused(seq, token, "REPLAY_NONCE");

    const canary = await call("POST", "/v1/redeem", DEV_KEY.deployer, { token: opened.body.capability, action: "deploy.canary", args: { service: "shop", version: "1.4.0", percent: 5 } });
    expect(canary.body.decision).toBe("ALLOW");
    const rolloutOpened = await submit(seq, await monitorAttests(seq));
    expect(rolloutOpened.body).toMatchObject({ decision: "ALLOW", stage: "rollout" });
    const rollout = await call("POST", "/v1/redeem", DEV_KEY.deployer, { token: rolloutOpened.body.capability, action: "deploy.rollout", args: { service: "shop", version: "1.4.0" } });
    expect(rollout.body).toMatchObject({ decision: "ALLOW", sealed: true });

    // Offline: signatures and links, every decision replayed through decide(), the token re-verified under its recorded key.
    const { lines, jwks, chain } = await exportedChain(seq);
    expect(chain.sealed).toBe(true);
    expect((await replayChain(chain.receipts, await compileWorkflow(release))).divergences).toEqual([]);
    // Two receipts carry the verified token: the ALLOW that accepted it, and the DENY of its replay.
    const accepted = chain.receipts.filter((r) => (r.inputs as any).attestation?.method === "oidc");
    expect(accepted.map((r) => [r.decision, r.code])).toEqual([["ALLOW", null], ["DENY", "REPLAY_NONCE"]]);
    for (const r of accepted) expect(await workloadTokenProblem(r)).toBeNull();
    // The recorded claims are the ones the token carries: a receipt that claims another commit is caught.
    const altered = structuredClone(accepted[0]) as any;
    altered.inputs.attestation.claims.sha = "0".repeat(40);
    expect(await workloadTokenProblem(altered)).toMatch(/carries other claims than the ones recorded/);

    // And the auditor's CLI says so.
    const dir = mkdtempSync(join(tmpdir(), "baton-workload-audit-"));
    try {
      writeFileSync(join(dir, "receipts.txt"), `${lines.join("\n")}\n`);
      writeFileSync(join(dir, "jwks.json"), JSON.stringify(jwks));
      const cli = spawnSync(process.execPath, [join(ROOT, "src", "cli", "baton.mjs"), "audit", "verify", join(dir, "receipts.txt"), "--jwks", join(dir, "jwks.json"), "--workflows", join(ROOT, "examples", "workflows"), "--json"], { encoding: "utf8" });
      expect(cli.status, cli.stderr || cli.stdout).toBe(0);
      expect(JSON.parse(cli.stdout)).toMatchObject({ valid: true, sealed: true, workload_tokens: 2, divergences: [] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("an ES256 token of the same issuer opens the gate too; a large token's receipt (over 8 KiB) still verifies offline", async () => {
    const seq = await startRelease();
    const job = { ...RELEASE_JOB, job_summary: "x".repeat(4000) };
    const token = await issuer.token({ job, audience: audienceOf(seq), alg: "ES256" });
    const opened = await submit(seq, token);
    expect(opened.body).toMatchObject({ decision: "ALLOW", stage: "canary" });
    expect((decodeJwt(opened.body.receipt) as any).inputs.attestation).toMatchObject({ kid: "gha-ec-1", alg: "ES256" });
    expect(opened.body.receipt.length).toBeGreaterThan(8 * 1024);
    const { chain } = await exportedChain(seq);
    expect((await replayChain(chain.receipts, await compileWorkflow(release))).divergences).toEqual([]);
    expect(await workloadTokenProblem(chain.receipts[1] as ReceiptClaims)).toBeNull();
  });

  it("refused, each with its code, receipted, nothing changed: wrong audience, another sequence, expired, wrong repository, another owner", async () => {
    const seq = await startRelease();
    const other = await startRelease();
    await expectRefused(seq, await issuer.token({ job: RELEASE_JOB, audience: `https://elsewhere.example/v1/sequences/${seq}` }), "EVIDENCE_INVALID", /names no sequence under Baton's audience/);
    await expectRefused(seq, await issuer.token({ job: RELEASE_JOB, audience: base }), "EVIDENCE_INVALID", /names no sequence/);
    await expectRefused(seq, await issuer.token({ job: RELEASE_JOB, audience: audienceOf(other) }), "EVIDENCE_INVALID", /bound to another sequence/);
    await expectRefused(seq, await issuer.token({ job: RELEASE_JOB, audience: audienceOf(seq), ageSeconds: 400 }), "EVIDENCE_STALE", /expired/);
    const wrongRepo = await expectRefused(seq, await issuer.token({ job: { ...RELEASE_JOB, repository: "example-org/other" }, audience: audienceOf(seq) }), "CONDITION_FAILED");
    expect(wrongRepo.details).toMatchObject({ condition: release.stages[1]?.gate?.attestations[0]?.where });
    const otherBranch = { ...RELEASE_JOB, job_workflow_ref: "example-org/shop/.github/workflows/release.yml@refs/heads/evil", ref: "refs/heads/evil" };
    await expectRefused(seq, await issuer.token({ job: otherBranch, audience: audienceOf(seq) }), "CONDITION_FAILED");
    await expectRefused(seq, await issuer.token({ job: { ...RELEASE_JOB, repository_owner: "mallory" }, audience: audienceOf(seq) }), "EVIDENCE_INVALID", /claim repository_owner is "mallory"/);
    // None of them spent anything: the genuine token still opens the gate.
    expect((await submit(seq, await issuer.token({ job: RELEASE_JOB, audience: audienceOf(seq) }))).body).toMatchObject({ decision: "ALLOW", stage: "canary" });
  });

  it("a token signed by a key not in the issuer's JWKS is refused, under an unknown kid or the issuer's own", async () => {
    const seq = await startRelease();
    await expectRefused(seq, await forged(seq, "rogue-1"), "EVIDENCE_INVALID", /unknown key id rogue-1/);
    await expectRefused(seq, await forged(seq, "gha-rsa-1"), "EVIDENCE_INVALID", /signature verification failed/);
  });

  it("an issuer that is down, with nothing cached: EVIDENCE_INVALID saying so, receipted", async () => {
    const seq = await startRelease();
    const receipt = await expectRefused(seq, await forged(seq, "k1", `http://127.0.0.1:${inject("oidcDownPort")}`), "EVIDENCE_INVALID", /cannot be reached and none of its keys is cached/);
    expect((receipt.inputs as any).attestation).toMatchObject({ ok: false, message: expect.stringMatching(/cannot be reached/) });
  });

  // Last: it stops the issuer.
  it("the issuer's keys are cached per isolate: with the issuer gone, a token under a key already fetched still verifies", async () => {
    const seq = await startRelease();
    const token = await issuer.token({ job: RELEASE_JOB, audience: audienceOf(seq) });
    await issuer.close();
    expect((await submit(seq, token)).body).toMatchObject({ decision: "ALLOW", stage: "canary" });
  });
});
