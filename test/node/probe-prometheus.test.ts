import { join } from "node:path";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type CanaryService, startCanaryService } from "./canary-service.js";
import { type PrometheusServer, instantValue, prometheusTestsRun, startPrometheus } from "./prometheus-server.js";
import { runBaton, until } from "./run-cli.js";

// `baton attest probe` against real parts: a real Prometheus (Debian's package) scraping a small
// service under canary every second, whose error counters the test controls, and the real Baton
// of the node suite (wrangler dev). The probe signs canary_passed with the monitor's example key
// only when the error rate kept under 1% for the whole window, and the deployment's gate opens
// the rollout on it; over the threshold it signs nothing and Baton hears nothing.
const ROOT = join(import.meta.dirname, "..", "..");
const MONITOR_KEY = join(ROOT, "examples", "keys", "monitor.private.jwk.json");
const KEY = { orchestrator: "dev-orchestrator-key", attester: "dev-attester-key", auditor: "dev-auditor-key", deployer: "dev-tool-deployer-key" };
const QUERY = 'sum(rate(http_requests_total{code=~"5..",version="2.4.1"}[5s])) / sum(rate(http_requests_total{version="2.4.1"}[5s]))';
const FACTS = '{"service":"checkout","version":"2.4.1"}';

let base = "";
let canary: CanaryService;
let prometheus: PrometheusServer;

async function call(method: string, path: string, key: string, body?: unknown) {
  const headers: Record<string, string> = { authorization: `Bearer ${key}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

async function startDeployment(): Promise<string> {
  const started = await call("POST", "/v1/sequences", KEY.orchestrator, {
    workflow: "deployment",
    params: { service: "checkout", version: "2.4.1" },
    subject: "user:alice",
    actor: "agent-7",
  });
  expect(started.status).toBe(201);
  return started.body.sequence as string;
}

async function receipts(seq: string): Promise<Record<string, any>[]> {
  const response = await fetch(`${base}/v1/sequences/${seq}/receipts`, { headers: { authorization: `Bearer ${KEY.auditor}` } });
  return (await response.text())
    .split("\n")
    .filter(Boolean)
    .map((jws) => decodeJwt(jws) as Record<string, any>);
}

/** The probe's options for one sequence: the monitor's key, the deployment's canary stage. */
function probeArgs(seq: string, ...more: string[]): string[] {
  return [
    "attest",
    "probe",
    "--prometheus",
    prometheus.url,
    "--query",
    QUERY,
    "--max",
    "0.01",
    "--attester",
    "monitor",
    "--key",
    MONITOR_KEY,
    "--sequence",
    seq,
    "--stage",
    "canary",
    "--type",
    "canary_passed",
    "--facts",
    FACTS,
    "--value-as",
    "error_rate",
    ...more,
  ];
}
const submit = () => ["--submit", base, "--api-key", KEY.attester];
const errorRate = () => instantValue(prometheus.url, QUERY);

describe.skipIf(!prometheusTestsRun())("baton attest probe, with a real Prometheus and a real Baton", () => {
  beforeAll(async () => {
    base = inject("batonUrl");
    canary = await startCanaryService("2.4.1");
    canary.setErrorRatio(0.05);
    prometheus = await startPrometheus([canary.target]);
    await until("Prometheus to have a 5% error rate", async () => ((await errorRate()) ?? 0) > 0.04);
  }, 60_000);

  afterAll(async () => {
    await prometheus?.stop();
    await canary?.close();
  });

  it("over the threshold: signs nothing, and the sequence hears nothing", async () => {
    const seq = await startDeployment();
    const before = await receipts(seq);
    const run = await runBaton(probeArgs(seq, ...submit())).done;
    expect(run.code, run.stderr).toBe(1);
    expect(run.stdout).toBe("");
    // About 5% (Prometheus' rate arithmetic may print 0.049999…).
    const measured = /check 1 failed \(threshold\): the value (\S+) at \S+ is above the maximum 0\.01/.exec(run.stderr);
    expect(measured, run.stderr).not.toBeNull();
    expect(Math.abs(Number(measured?.[1]) - 0.05)).toBeLessThan(0.005);
    expect(run.stderr).toMatch(/nothing signed/);
    expect(run.stderr).not.toMatch(/signed canary_passed/);
    expect(await receipts(seq)).toHaveLength(before.length);
    expect((await call("GET", `/v1/sequences/${seq}`, KEY.auditor)).body.stage.id).toBe("canary");
  });

  it("--watch: refuses while the canary fails, signs once it has kept under 1% for the whole --for, and the gate opens the rollout", async () => {
    const seq = await startDeployment();
    const watching = runBaton(probeArgs(seq, "--for", "10s", "--watch", "--interval", "1s", "--timeout", "60s", ...submit()));
    await until("two failed checks", () => (watching.stderr().match(/failed/g) ?? []).length >= 2);
    canary.setErrorRatio(0.002);
    const run = await watching.done;
    expect(run.code, run.stderr).toBe(0);

    // every check before the pass failed, and the one signature came after the pass
    const lines = run.stderr.trim().split("\n");
    const passed = lines.findIndex((l) => /check \d+ passed: value 0\.00\d* \(max 0\.01\) over the last 10s \(11 points\)/.test(l));
    expect(passed, run.stderr).toBeGreaterThan(1);
    expect(lines.slice(1, passed).every((l) => / failed \((threshold|gap)\)/.test(l)), run.stderr).toBe(true);
    expect(lines.filter((l) => /signed canary_passed/.test(l))).toHaveLength(1);
    expect(lines.findIndex((l) => /signed canary_passed/.test(l))).toBeGreaterThan(passed);

    // Baton's answer: the rollout's capability
    const answer = JSON.parse(run.stdout);
    expect(answer).toMatchObject({ decision: "ALLOW", code: null, stage: "rollout", message: "canary_passed accepted; stage rollout opened" });

    // the receipt shows what was measured
    const chain = await receipts(seq);
    const evidence = chain.at(-1) as Record<string, any>;
    expect(evidence).toMatchObject({ kind: "evidence", decision: "ALLOW", stage: "canary" });
    const facts = evidence.inputs.attestation.claims.facts;
    expect(facts).toMatchObject({
      service: "checkout",
      version: "2.4.1",
      check: "prometheus",
      prometheus: prometheus.url,
      query: QUERY,
      threshold: { max: 0.01 },
      for_seconds: 10,
      step_seconds: 1,
      points: 11,
    });
    expect(facts.value).toBeLessThanOrEqual(0.01);
    expect(facts.error_rate).toBe(facts.value);
    expect(Date.parse(facts.evaluated_at)).toBeGreaterThan(Date.now() - 60_000);
    expect(evidence.inputs.attestation.claims).toMatchObject({ iss: "monitor", type: "canary_passed", seq });

    // and the workflow goes on: the rollout capability is good at the deployer's gate
    const rollout = await call("POST", "/v1/redeem", KEY.deployer, { token: answer.capability, action: "deploy.rollout", args: { service: "checkout", version: "2.4.1" } });
    expect(rollout.body).toMatchObject({ decision: "ALLOW", sealed: true });
  }, 90_000);

  it("--for: a canary healthy right now, but not for the whole window, is not signed for the window", async () => {
    canary.setErrorRatio(0.05);
    await until("the error rate to rise over 1%", async () => ((await errorRate()) ?? 0) > 0.01);
    canary.setErrorRatio(0.002);
    await until("the error rate to fall under 1%", async () => ((await errorRate()) ?? 1) <= 0.01);
    const seq = await startDeployment();
    const [windowed, instant] = await Promise.all([runBaton(probeArgs(seq, "--for", "10s")).done, runBaton(probeArgs(seq)).done]);
    expect(instant.code, instant.stderr).toBe(0);
    expect(decodeJwt(instant.stdout.trim()).facts).toMatchObject({ check: "prometheus", threshold: { max: 0.01 } });
    expect(windowed.code, windowed.stderr).toBe(1);
    expect(windowed.stdout).toBe("");
    expect(windowed.stderr).toMatch(/check 1 failed \(threshold\): the value 0\.0\d+ at \S+ is above the maximum 0\.01 \(\d+ of 11 points\)/);
  }, 60_000);

  it("the gate decides, not the probe: a pass that names another version is refused with a receipt (exit 3)", async () => {
    await until("the error rate to be under 1%", async () => ((await errorRate()) ?? 1) <= 0.01);
    const seq = await startDeployment();
    const args = probeArgs(seq, ...submit());
    args[args.indexOf(FACTS)] = '{"service":"checkout","version":"2.4.0"}';
    const run = await runBaton(args).done;
    expect(run.code, run.stderr).toBe(3);
    expect(run.stderr).toMatch(/signed canary_passed/);
    const { error } = JSON.parse(run.stdout);
    expect(error.code).toBe("CONDITION_FAILED");
    expect(decodeJwt(error.receipt)).toMatchObject({ kind: "evidence", decision: "DENY", code: "CONDITION_FAILED" });
    expect((await call("GET", `/v1/sequences/${seq}`, KEY.auditor)).body.stage.id).toBe("canary");
  });

  it("a query Prometheus rejects ends even a --watch at once (exit 2): waiting cannot fix it", async () => {
    const args = probeArgs("s-1", "--watch", "--interval", "1s", "--timeout", "60s");
    args[args.indexOf(QUERY)] = "sum(rate(";
    const started = Date.now();
    const run = await runBaton(args).done;
    expect(run.code, run.stderr).toBe(2);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(run.stderr).toMatch(/failed \(query_rejected\): Prometheus refused the query \(bad_data\)/);
    expect(run.stdout).toBe("");
  });

  it("no data (a version that serves nothing): --watch times out, exit 1, nothing signed", async () => {
    const args = probeArgs("s-1", "--watch", "--interval", "1s", "--timeout", "3s");
    args[args.indexOf(QUERY)] = QUERY.replaceAll("2.4.1", "9.9.9");
    const run = await runBaton(args).done;
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toMatch(/failed \(no_data\): the query returned no data/);
    expect(run.stderr).toMatch(/timed out after \d+ checks: nothing signed/);
    expect(run.stdout).toBe("");
  });

  it("credentials in the Prometheus URL are sent as Basic auth, never recorded in the attestation", async () => {
    await until("the error rate to be under 1%", async () => ((await errorRate()) ?? 1) <= 0.01);
    const args = probeArgs("s-1");
    args[args.indexOf(prometheus.url)] = prometheus.url.replace("http://", "http://probe:s3cret@");
    const run = await runBaton(args).done;
    expect(run.code, run.stderr).toBe(0);
    const claims = decodeJwt(run.stdout.trim());
    expect((claims.facts as Record<string, unknown>).prometheus).toBe(prometheus.url);
    expect(JSON.stringify(claims)).not.toMatch(/s3cret/);
  });
});
