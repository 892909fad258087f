import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { importJWK, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import devConfig from "../../examples/dev-config.json";
import { type CanaryService, startCanaryService } from "./canary-service.js";
import { runBaton, until } from "./run-cli.js";

// `baton attest probe --http`: one GET against a real local service whose health the test sets.
// A pass is signed with the attester's key, with the URL, status and latency as its facts; a
// wrong status or a slow answer is not. And the command's own mistakes: exit 2, a message, no trace.
const ROOT = join(import.meta.dirname, "..", "..");
const MONITOR_KEY = join(ROOT, "examples", "keys", "monitor.private.jwk.json");
const stackTrace = /^\s+at .+:\d+:\d+\)?$/m;

let service: CanaryService;
let dir = "";

const probe = (...more: string[]) =>
  runBaton([
    "attest",
    "probe",
    "--attester",
    "monitor",
    "--key",
    MONITOR_KEY,
    "--sequence",
    "s-1",
    "--stage",
    "canary",
    "--type",
    "healthy",
    ...more,
  ]).done;

beforeAll(async () => {
  service = await startCanaryService("2.4.1");
  dir = mkdtempSync(join(tmpdir(), "baton-probe-http-"));
});
afterAll(async () => {
  await service?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("baton attest probe --http", () => {
  it("signs a healthy answer with the monitor's key, with what it measured", async () => {
    service.setHealth(200);
    const run = await probe("--http", `${service.url}/healthz`, "--max-latency", "2s", "--facts", '{"service":"checkout"}');
    expect(run.code, run.stderr).toBe(0);
    const monitor = devConfig.attesters.find((a) => a.id === "monitor")?.keys?.[0];
    const { payload } = await jwtVerify(run.stdout.trim(), await importJWK(monitor as object, "EdDSA"), { typ: "baton-attestation+jwt", issuer: "monitor" });
    expect(payload).toMatchObject({ seq: "s-1", stage: "canary", type: "healthy" });
    expect(payload.facts).toMatchObject({ service: "checkout", check: "http", url: `${service.url}/healthz`, status: 200, expect_status: 200, max_latency_ms: 2000 });
    expect((payload.facts as { latency_ms: number }).latency_ms).toBeLessThan(2000);
    expect(run.stderr).toMatch(/check 1 passed: \S+ answered 200 in \d+ ms/);
  });

  it("an unhealthy status is not signed (exit 1)", async () => {
    service.setHealth(503);
    const run = await probe("--http", `${service.url}/healthz`);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stdout).toBe("");
    expect(run.stderr).toMatch(/check 1 failed \(status\): \S+ answered 503, not 200/);
  });

  it("an answer slower than --max-latency is not signed (exit 1)", async () => {
    service.setHealth(200, 1500);
    const run = await probe("--http", `${service.url}/healthz`, "--max-latency", "300ms");
    expect(run.code, run.stderr).toBe(1);
    expect(run.stdout).toBe("");
    expect(run.stderr).toMatch(/check 1 failed \(too_slow\): \S+ did not answer within 300 ms/);
  });

  it("--watch signs once the service recovers", async () => {
    service.setHealth(503);
    const watching = runBaton([
      "attest",
      "probe",
      "--http",
      `${service.url}/healthz`,
      "--watch",
      "--interval",
      "300ms",
      "--timeout",
      "20s",
      "--attester",
      "monitor",
      "--key",
      MONITOR_KEY,
      "--sequence",
      "s-1",
      "--stage",
      "canary",
      "--type",
      "healthy",
    ]);
    await until("two failed checks", () => (watching.stderr().match(/failed \(status\)/g) ?? []).length >= 2);
    service.setHealth(200);
    const run = await watching.done;
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.trim().split(".")).toHaveLength(3);
  });
});

describe("baton attest: its own mistakes are exit 2 with a message, never a stack trace", () => {
  it.each([
    ["no check", [], /attest probe: give one check/],
    ["a bare-number duration", ["--prometheus", "http://127.0.0.1:9", "--query", "up", "--max", "1", "--for", "5"], /--for "5" is not a duration/],
    ["an unknown option", ["--http", "http://127.0.0.1:9", "--bogus"], /Unknown option '--bogus'/],
    ["an unreadable key", ["--http", "http://127.0.0.1:9", "--key", "/nonexistent.jwk"], /cannot read the key \/nonexistent\.jwk/],
  ])("%s", async (_, args, message) => {
    const run = await probe(...args);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    expect(run.stderr).toMatch(message);
    expect(run.stderr).not.toMatch(stackTrace);
  });

  it("a public key cannot sign: refused before anything is checked", async () => {
    const monitor = devConfig.attesters.find((a) => a.id === "monitor")?.keys?.[0];
    const file = join(dir, "public.jwk.json");
    writeFileSync(file, JSON.stringify(monitor));
    const run = await probe("--http", `${service.url}/healthz`, "--key", file);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/is not a private JWK with kid and alg/);
    expect(run.stderr).not.toMatch(/check 1/);
  });

  it("`baton attest --help` prints the usage, exit 0; `baton --help` lists it", async () => {
    const help = await runBaton(["attest", "--help"]).done;
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: baton attest probe <check> --attester <id> --key <private JWK file>/);
    expect((await runBaton(["--help"]).done).stdout).toMatch(/baton attest probe --prometheus <url>/);
  });
});
