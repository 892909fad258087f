import { join } from "node:path";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { DEV_KEY } from "../verifier/baton-under-test.js";
import { type CanaryService, startCanaryService } from "./canary-service.js";
import { type LocalIssuer, startIssuer } from "./oidc-issuer.js";
import { type PrometheusServer, instantValue, prometheusTestsRun, startPrometheus } from "./prometheus-server.js";
import { runBaton, until } from "./run-cli.js";

// The release example (examples/workflows/release.json) end to end with no signature made by
// the test: a real OpenID provider issues the release job's GitHub-Actions-shaped token, which
// opens the canary; a real Prometheus scrapes the canary, and `baton attest probe` signs
// canary_passed only once its error rate is under 1%, which opens the rollout; the rollout's
// use seals the sequence. (The refusals of each part: workload-identity.test.ts, probe-prometheus.test.ts.)
const base = inject("batonUrl");
const ROOT = join(import.meta.dirname, "..", "..");
const COMMIT = "9c1185a5c5e9fc54612808977ee8f548b2258d31";
const PARAMS = { repo: "example-org/shop", commit: COMMIT, service: "shop", version: "1.4.0" };
const RELEASE_JOB = {
  repository: "example-org/shop",
  repository_owner: "example-org",
  sha: COMMIT,
  ref: "refs/heads/main",
  job_workflow_ref: "example-org/shop/.github/workflows/release.yml@refs/heads/main",
  event_name: "push",
  run_id: "4455667788",
};
const QUERY = 'sum(rate(http_requests_total{code=~"5..",version="1.4.0"}[5s])) / sum(rate(http_requests_total{version="1.4.0"}[5s]))';

let issuer: LocalIssuer;
let canary: CanaryService;
let prometheus: PrometheusServer;

async function call(method: string, path: string, key: string, body?: unknown) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}
const stageOf = async (seq: string) => (await call("GET", `/v1/sequences/${seq}`, DEV_KEY.auditor)).body.stage.id as string;

function probe(seq: string) {
  return runBaton([
    "attest", "probe",
    "--prometheus", prometheus.url, "--query", QUERY, "--max", "0.01", "--for", "5s",
    "--attester", "monitor", "--key", join(ROOT, "examples", "keys", "monitor.private.jwk.json"),
    "--sequence", seq, "--stage", "canary", "--type", "canary_passed",
    "--facts", JSON.stringify({ service: "shop", version: "1.4.0" }), "--value-as", "error_rate",
    "--submit", base, "--api-key", "dev-attester-key",
  ]).done;
}

describe.skipIf(!prometheusTestsRun())("the release example with a real OpenID provider and a real Prometheus", () => {
  beforeAll(async () => {
    issuer = await startIssuer(inject("oidcPort"));
    canary = await startCanaryService("1.4.0");
    canary.setErrorRatio(0.05);
    prometheus = await startPrometheus([canary.target]);
    await until("Prometheus to see the canary's 5% errors", async () => ((await instantValue(prometheus.url, QUERY)) ?? 0) > 0.04);
  }, 60_000);

  afterAll(async () => {
    await prometheus?.stop();
    await canary?.close();
    await issuer?.close();
  });

  it("the job's token opens the canary; the probe refuses at 5% errors and signs at 0.2%; the rollout seals", { timeout: 90_000 }, async () => {
    const started = await call("POST", "/v1/sequences", DEV_KEY.orchestrator, { workflow: "release", params: PARAMS, subject: "user:alice", actor: "agent-7" });
    expect(started.status).toBe(201);
    const seq = started.body.sequence as string;

    const token = await issuer.token({ job: RELEASE_JOB, audience: `${base}/v1/sequences/${seq}` });
    const opened = await call("POST", `/v1/sequences/${seq}/evidence`, DEV_KEY.agent, { attestation: token });
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
