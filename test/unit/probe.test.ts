import { decodeProtectedHeader, importJWK, jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import monitorKey from "../../examples/keys/monitor.private.jwk.json";
import type { CheckResult } from "../../src/probe/check.js";
import { type Point, ProbeOptionsError, endpointOf, formatDuration, judgeWindow, parseDuration, parseProbePlan, runProbe, windowAt } from "../../src/probe/index.js";

// The probe attester's pure parts (src/probe/): the window judgement every Prometheus check
// ends in, the options it refuses, and the run that signs only a pass. The checks against a
// real Prometheus and a real Baton are test/node/probe-prometheus.test.ts.
const NOW = Date.UTC(2026, 11, 1, 12, 0, 0);
const { "//": _comment, ...privateJwk } = monitorKey;
const points = (values: number[], startMs: number, stepMs = 1000): Point[] => values.map((value, k) => ({ atMs: startMs + k * stepMs, value }));
const window10s = windowAt(NOW, 10_000, 1000);

describe("durations", () => {
  it("reads Prometheus's notation and refuses bare numbers", () => {
    expect(parseDuration("5m")).toBe(300_000);
    expect(parseDuration("1h30m")).toBe(5_400_000);
    expect(parseDuration("500ms")).toBe(500);
    for (const bad of ["5", "", "5 m", "-5s", "0s", "5M", "1.5s"]) expect(parseDuration(bad), bad).toBeNull();
  });

  it("writes them back the same way, for messages", () => {
    for (const text of ["10m", "1m30s", "500ms", "15s", "1h", "1d2h"]) expect(formatDuration(parseDuration(text) ?? 0)).toBe(text);
  });
});

describe("judgeWindow: did the bound hold at every point of the window", () => {
  const eleven = (value: number) => points(Array(11).fill(value), NOW - 10_000);

  it("passes when every point keeps the bound, reporting the worst one", () => {
    const series = points([0.001, 0.002, 0.009, 0.004, 0, 0, 0, 0, 0, 0, 0.003], NOW - 10_000);
    expect(judgeWindow([series], window10s, { max: 0.01 })).toEqual({ passed: true, worst: { atMs: NOW - 8000, value: 0.009 }, points: 11 });
    expect(judgeWindow([series], window10s, { min: 0 })).toMatchObject({ passed: true, worst: { value: 0 } });
  });

  it("one bad point anywhere in the window fails it: the bound must hold for the whole --for", () => {
    const series = eleven(0.002);
    series[3] = { atMs: series[3]!.atMs, value: 0.05 };
    const verdict = judgeWindow([series], window10s, { max: 0.01 });
    expect(verdict).toMatchObject({ passed: false, reason: "threshold", retryable: true });
    expect(verdict.passed === false && verdict.message).toBe("the value 0.05 at 2026-12-01T11:59:53.000Z is above the maximum 0.01 (1 of 11 points)");
    expect(judgeWindow([eleven(0.98)], window10s, { min: 0.99 })).toMatchObject({ passed: false, reason: "threshold" });
  });

  it("a canary measured for only part of the window has not shown it yet (gap), however good its values", () => {
    const late = points([0, 0, 0], NOW - 2000);
    const verdict = judgeWindow([late], window10s, { max: 0.01 });
    expect(verdict).toMatchObject({ passed: false, reason: "gap", retryable: true });
    expect(verdict.passed === false && verdict.message).toMatch(/^no value at 8 of 11 points of the last 10s/);
    // a hole in the middle counts as much as a late start
    const holed = eleven(0).filter((_, k) => k !== 5);
    expect(judgeWindow([holed], window10s, { max: 0.01 })).toMatchObject({ reason: "gap" });
  });

  it("NaN (0/0 with no traffic) and ±Inf are not numbers to compare", () => {
    const series = eleven(0);
    series[10] = { atMs: NOW, value: Number.NaN };
    expect(judgeWindow([series], window10s, { max: 0.01 })).toMatchObject({ passed: false, reason: "not_a_number", retryable: true });
    // +Inf would pass a minimum; it still fails
    expect(judgeWindow([eleven(Number.POSITIVE_INFINITY)], window10s, { min: 0.99 })).toMatchObject({ reason: "not_a_number" });
  });

  it("no series is no data; more than one is a query to fix, not to wait for", () => {
    expect(judgeWindow([], window10s, { max: 1 })).toMatchObject({ passed: false, reason: "no_data", retryable: true });
    expect(judgeWindow([eleven(0), eleven(0)], window10s, { max: 1 })).toMatchObject({ passed: false, reason: "many_series", retryable: false });
  });

  it("without --for, the one instant value is judged", () => {
    expect(judgeWindow([[{ atMs: NOW, value: 0.002 }]], windowAt(NOW, 0), { max: 0.01 })).toMatchObject({ passed: true, points: 1 });
    expect(judgeWindow([[{ atMs: NOW, value: 0.02 }]], windowAt(NOW, 0), { max: 0.01 })).toMatchObject({ passed: false, reason: "threshold" });
  });
});

describe("parseProbePlan: options checked before anything is measured", () => {
  const base = { attester: "monitor", key: "monitor.jwk", sequence: "s-1", stage: "canary", type: "canary_passed" };
  const prom = { ...base, prometheus: "http://prometheus:9090", query: "up", max: "0.01" };
  const refused = (values: Record<string, unknown>, env = {}) => {
    try {
      parseProbePlan(values, env);
    } catch (error) {
      expect(error).toBeInstanceOf(ProbeOptionsError);
      return (error as Error).message;
    }
    throw new Error("accepted");
  };

  it("reads a Prometheus check with its window, and defaults the step to a twentieth of it", () => {
    const plan = parseProbePlan({ ...prom, for: "5m", facts: '{"service":"checkout"}', "value-as": "error_rate" });
    expect(plan.check).toEqual({ kind: "prometheus", options: { prometheus: "http://prometheus:9090", query: "up", bound: { max: 0.01 }, forMs: 300_000, stepMs: 15_000 } });
    expect(plan.attestation).toMatchObject({ attester: "monitor", seq: "s-1", facts: { service: "checkout" }, valueAs: "error_rate" });
    expect(plan.watch).toBeUndefined();
    expect(parseProbePlan({ ...prom, watch: true }).watch).toEqual({ intervalMs: 15_000, timeoutMs: 600_000 });
  });

  it("takes the API key from the environment when --api-key is absent", () => {
    expect(parseProbePlan({ ...prom, submit: "http://localhost:8787" }, { apiKey: "k" }).submit).toEqual({ baseUrl: "http://localhost:8787", apiKey: "k" });
    expect(refused({ ...prom, submit: "http://localhost:8787" })).toBe("--submit needs --api-key (or BATON_API_KEY)");
  });

  it.each([
    ["no check", base, /^give one check/],
    ["two checks", { ...prom, http: "http://svc/healthz" }, /^give one check/],
    ["no bound", { ...prom, max: undefined }, "--prometheus needs one bound: --max <n> or --min <n>"],
    ["two bounds", { ...prom, min: "0" }, "--prometheus needs one bound: --max <n> or --min <n>"],
    ["a bound that is not a number", { ...prom, max: "1%" }, '--max "1%" is not a number'],
    ["a bare-number duration", { ...prom, for: "5" }, /^--for "5" is not a duration/],
    ["a step longer than the window", { ...prom, for: "10s", step: "1m" }, "--step must not be longer than --for"],
    ["a step without a window", { ...prom, step: "1s" }, "--step needs --for"],
    ["a query option on an HTTP check", { ...base, http: "http://svc/healthz", max: "1" }, "--max needs --prometheus"],
    ["--timeout without --watch", { ...prom, timeout: "1m" }, "--timeout needs --watch"],
    ["a non-http URL", { ...prom, prometheus: "file:///etc/passwd" }, "--prometheus must be an http:// or https:// URL"],
    ["facts that are not a JSON object", { ...prom, facts: "[1]" }, /^--facts /],
    ["stated facts that would pose as measured ones", { ...prom, facts: '{"value":0}' }, /^the fact value is what the probe measures/],
    ["--value-as naming a measured fact", { ...prom, "value-as": "query" }, /^the fact query is what the probe measures/],
    ["--value-as that CEL cannot read", { ...prom, "value-as": "error-rate" }, /^--value-as must be a name/],
    ["a missing binding", { ...prom, sequence: undefined }, "--sequence is required"],
    ["a query past its cap", { ...prom, query: "x".repeat(2049) }, /^--query /],
  ])("refuses %s", (_, values, message) => {
    const got = refused(values as Record<string, unknown>);
    if (typeof message === "string") expect(got).toBe(message);
    else expect(got).toMatch(message);
  });
});

describe("runProbe: a failing check never signs", () => {
  const target = { attester: "monitor", privateJwk, seq: "s-1", stage: "canary", type: "canary_passed", facts: { service: "checkout", version: "2.4.1" }, valueAs: "error_rate" };
  const pass: CheckResult = { passed: true, value: 0.002, facts: { check: "prometheus", query: "q", value: 0.002, threshold: { max: 0.01 } } };
  const over: CheckResult = { passed: false, reason: "threshold", message: "above", retryable: true };
  /** A check that answers from a script, one result per run, on a clock that advances 1 s per sleep. */
  const scripted = (...results: CheckResult[]) => {
    let t = NOW;
    const seen: number[] = [];
    return {
      seen,
      run: {
        check: async (nowMs: number) => {
          seen.push(nowMs);
          return results[Math.min(seen.length - 1, results.length - 1)] as CheckResult;
        },
        now: () => t,
        sleep: async (ms: number) => {
          t += ms;
        },
      },
    };
  };

  it("signs a pass with the monitor's key: the stated facts, the value under its gate name, the measured facts", async () => {
    const { run } = scripted(pass);
    const outcome = await runProbe({ ...run, attestation: target });
    expect(outcome.status).toBe("signed");
    if (outcome.status !== "signed") return;
    const { x, crv, kty } = privateJwk;
    const { payload } = await jwtVerify(outcome.attestation, await importJWK({ x, crv, kty }, "EdDSA"), { typ: "baton-attestation+jwt" });
    expect(decodeProtectedHeader(outcome.attestation).kid).toBe("monitor-dev-1");
    expect(payload).toMatchObject({ iss: "monitor", seq: "s-1", stage: "canary", type: "canary_passed", iat: NOW / 1000 });
    expect(payload.facts).toEqual({ service: "checkout", version: "2.4.1", error_rate: 0.002, check: "prometheus", query: "q", value: 0.002, threshold: { max: 0.01 } });
  });

  it("once, without --watch: a failure is the answer, and nothing is signed", async () => {
    const { run, seen } = scripted(over, pass);
    expect(await runProbe({ ...run, attestation: target })).toEqual({ status: "failed", last: over, attempts: 1, timedOut: false });
    expect(seen).toHaveLength(1);
  });

  it("--watch checks again every interval and signs the first pass", async () => {
    const { run, seen } = scripted(over, over, pass);
    const outcome = await runProbe({ ...run, attestation: target, watch: { intervalMs: 15_000, timeoutMs: 600_000 } });
    expect(outcome.status).toBe("signed");
    expect(seen).toEqual([NOW, NOW + 15_000, NOW + 30_000]);
  });

  it("--watch gives up at the timeout, having checked once more at the deadline, and signs nothing", async () => {
    const { run, seen } = scripted(over);
    const outcome = await runProbe({ ...run, attestation: target, watch: { intervalMs: 15_000, timeoutMs: 40_000 } });
    expect(outcome).toEqual({ status: "failed", last: over, attempts: 4, timedOut: true });
    expect(seen).toEqual([NOW, NOW + 15_000, NOW + 30_000, NOW + 40_000]);
  });

  it("a pass whose token Baton would refuse unread (over 8 KiB) is dropped, not printed", async () => {
    const { run } = scripted(pass);
    const outcome = await runProbe({ ...run, attestation: { ...target, facts: { note: "x".repeat(8192) } } });
    expect(outcome).toMatchObject({ status: "failed", last: { reason: "too_large", retryable: false } });
    expect(outcome).not.toHaveProperty("attestation");
  });

  it("--watch stops at once on a failure that checking again cannot change", async () => {
    const rejected: CheckResult = { passed: false, reason: "query_rejected", message: "parse error", retryable: false };
    const { run } = scripted(rejected, pass);
    expect(await runProbe({ ...run, attestation: target, watch: { intervalMs: 1000, timeoutMs: 60_000 } })).toMatchObject({ status: "failed", attempts: 1, timedOut: false });
  });
});

describe("endpointOf", () => {
  it("moves credentials out of the URL it records (they would be in every receipt) into Basic auth", () => {
    expect(endpointOf("https://probe:s%3Acret@prometheus.example/prom")).toEqual({
      url: "https://prometheus.example/prom",
      headers: { authorization: `Basic ${btoa("probe:s:cret")}` },
    });
    expect(endpointOf("http://127.0.0.1:9090")).toEqual({ url: "http://127.0.0.1:9090/", headers: {} });
  });
});
