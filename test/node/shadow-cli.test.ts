import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUNDLED_EXAMPLE_CONFIG } from "../../src/config/bundled.js";
import { attest } from "./console-harness.js";
import { startWranglerDev } from "./wrangler-dev.js";

// `baton shadow report` against a Baton of its own (wrangler dev) whose deployment workflow is
// shadowed by the stricter what-if version (examples/whatif/stricter: a canary of at most 2%).
// A canary of 5% is allowed, as enforced, and would be refused by the candidate: the one flip.
const ROOT = join(import.meta.dirname, "..", "..");
const KEY = { orchestrator: "dev-orchestrator-key", auditor: "dev-auditor-key", operator: "dev-operator-key", deployer: "dev-tool-deployer-key", agent: "dev-agent-key" };
const stricter = JSON.parse(readFileSync(join(ROOT, "examples", "whatif", "stricter", "deployment.json"), "utf8"));
const PARAMS = { service: "checkout", version: "2.4.1" };

let baton: { port: number; stop: () => void } | null = null;
let base = "";
let dir = "";
let seq = "";

async function call(method: string, path: string, key: string, body?: unknown) {
  const headers: Record<string, string> = { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) };
  const send = () => fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  // A kept-alive connection idle through the CLI runs may have been closed by workerd meanwhile: one fresh try.
  const response = await send().catch(send);
  const text = await response.text();
  return { status: response.status, text, body: text.startsWith("{") ? JSON.parse(text) : null };
}

function cli(...args: string[]) {
  const result = spawnSync(process.execPath, [join(ROOT, "src", "cli", "baton.mjs"), "shadow", ...args], {
    cwd: dir,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1", BATON_URL: base, BATON_API_KEY: "" },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

beforeAll(async () => {
  baton = await startWranglerDev({ ...BUNDLED_EXAMPLE_CONFIG, shadow: [{ workflow: "deployment", candidate: stricter }] }, "shadow-cli");
  base = `http://127.0.0.1:${baton.port}`;
  dir = mkdtempSync(join(tmpdir(), "baton-shadow-cli-"));
  const started = await call("POST", "/v1/sequences", KEY.orchestrator, { workflow: "deployment", params: PARAMS, subject: "user:alice", actor: "agent-7" });
  expect(started.status).toBe(201);
  seq = started.body.sequence;
  const canary = await call("POST", "/v1/redeem", KEY.deployer, { token: started.body.capability, action: "deploy.canary", args: { ...PARAMS, percent: 5 } });
  expect(canary.body.decision).toBe("ALLOW");
  const attestation = attest({ attester: "monitor", seq, stage: "canary", type: "canary_passed", facts: { ...PARAMS, error_rate: 0.002 } });
  const opened = await call("POST", `/v1/sequences/${seq}/evidence`, KEY.agent, { attestation });
  const rollout = await call("POST", "/v1/redeem", KEY.deployer, { token: opened.body.capability, action: "deploy.rollout", args: PARAMS });
  expect(rollout.body.sealed).toBe(true);
  // The report trails the ledger by moments (its outbox).
  for (let i = 0; i < 100; i++) {
    if ((await call("GET", `/v1/workflows/deployment/shadow?seq=${seq}`, KEY.auditor)).body.decisions.length > 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
}, 120_000);

afterAll(() => {
  baton?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("baton shadow report", () => {
  const flipped = /ALLOW \(args\.service == params\.service && args\.version == params\.version && args\.percent <= 10\)\s+→\s+DENY CONDITION_FAILED \(args\.service == params\.service && args\.version == params\.version && args\.percent <= 2\)/;

  it("prints each flip with the condition that decided either side, from the verified receipts", () => {
    const { code, stdout, stderr } = cli("report", "deployment", "--api-key", KEY.auditor, "--seq", seq);
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^shadow report of deployment \(version [A-Za-z0-9_-]{43}\): candidate [A-Za-z0-9_-]{43}/);
    expect(stdout).toContain(`${seq.slice(0, 12)}…      1`);
    expect(stdout).toMatch(flipped);
    expect(stdout).toContain("1 decision would flip, 0 the candidate could not decide.");

    const json = JSON.parse(cli("report", "deployment", "--api-key", KEY.auditor, "--seq", seq, "--json").stdout);
    expect(json.entries).toEqual([
      expect.objectContaining({ seq, n: 1, kind: "redeem", stage: "canary", flip: "decision", enforced: expect.objectContaining({ decision: "ALLOW" }), shadow: expect.objectContaining({ decision: "DENY", code: "CONDITION_FAILED" }) }),
    ]);
    expect(json.failures).toEqual([]);
  });

  it("an operator's listing has no receipts: printed, and said to be unverified; a role that may not read it is refused", () => {
    const operator = cli("report", "deployment", "--api-key", KEY.operator, "--seq", seq);
    expect(operator.code).toBe(0);
    expect(operator.stdout).toMatch(flipped);
    expect(operator.stdout).toContain("(1 unverified: the listing carried no receipts)");
    const orchestrator = cli("report", "deployment", "--api-key", KEY.orchestrator);
    expect([orchestrator.code, orchestrator.stderr.trim()]).toEqual([1, expect.stringMatching(/^Baton refused: FORBIDDEN/)]);
    expect(cli("report", "deployment").code).toBe(2);
    expect(cli("report", "deployment", "--api-key", KEY.auditor, "--flip", "sideways").code).toBe(2);
    expect(cli("report").code).toBe(2);
  });

  it("offline, from an export and Baton's keys; a tampered export is refused", async () => {
    writeFileSync(join(dir, "chain.txt"), (await call("GET", `/v1/sequences/${seq}/receipts`, KEY.auditor)).text);
    writeFileSync(join(dir, "jwks.json"), (await call("GET", "/.well-known/jwks.json", KEY.auditor)).text);
    const offline = cli("report", "--from", "chain.txt", "--jwks", "jwks.json");
    expect(offline.code, offline.stderr).toBe(0);
    expect(offline.stdout).toMatch(flipped);
    expect(offline.stdout).toContain("1 decision would flip");
    expect(cli("report", "--from", "chain.txt").code).toBe(2);

    const lines = readFileSync(join(dir, "chain.txt"), "utf8").trim().split("\n");
    writeFileSync(join(dir, "cut.txt"), [lines[0], ...lines.slice(2)].join("\n"));
    const cut = cli("report", "--from", "cut.txt", "--jwks", "jwks.json");
    expect(cut.code).toBe(1);
    expect(cut.stdout).toContain("NOT VERIFIED: the chain does not verify");
  });
});
