#!/usr/bin/env node
// `npm run bench:analysis`: the analysis plane under `wrangler dev`.
//  1. Lag: for N sequences (default 100) of the report-publication example, each
//     with its own actor, the time from the answer of the public write (the receipt
//     that completes the flow is committed before that answer) to the flow signal
//     being listed by GET /v1/signals (polled every 5 ms). Median and p90.
//  2. The gate with analysis on and off, side by side: two `wrangler dev`, the same
//     code; one with the bundled configuration (three detectors, every receipt
//     delivered to two analysts), one with the same configuration minus its detectors
//     (no delivery at all). Redeems of fresh canary capabilities, one at a time,
//     alternating between the two servers, median and p99.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({ options: { sequences: { type: "string", default: "100" }, redeems: { type: "string", default: "300" } } });
const SEQUENCES = Number(values.sequences);
const REDEEMS = Number(values.redeems);
const work = mkdtempSync(join(tmpdir(), "baton-analysis-bench-"));
const servers = [];
process.on("exit", () => {
  for (const s of servers) {
    try {
      process.kill(-s.pid, "SIGTERM");
    } catch {}
  }
  rmSync(work, { recursive: true, force: true });
});
process.on("SIGINT", () => process.exit(130));

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

async function startServer(name, env = {}) {
  const port = await freePort();
  // Two servers at once: each needs its own inspector port too.
  const args = ["wrangler", "dev", "--port", String(port), "--ip", "127.0.0.1", "--inspector-port", String(await freePort()), "--persist-to", join(work, name)];
  if (env.file) args.push("--env-file", env.file);
  const child = spawn("npx", args, { cwd: ROOT, detached: true, stdio: "ignore", env: { ...process.env, WRANGLER_SEND_METRICS: "false" } });
  servers.push(child);
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/.well-known/jwks.json`)).ok) return base;
    } catch {}
    if (i > 400) throw new Error(`${name} did not start`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

const call = async (base, method, path, key, body) => {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body && JSON.stringify(body),
  });
  return response.json();
};
const percentile = (xs, p) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};

// Analysis off: the bundled configuration with its detectors removed, through BATON_CONFIG.
const dev = JSON.parse(readFileSync(join(ROOT, "examples/dev-config.json"), "utf8"));
const workflows = readdirSync(join(ROOT, "examples/workflows")).filter((f) => !f.endsWith(".test.json")).map((f) => JSON.parse(readFileSync(join(ROOT, "examples/workflows", f), "utf8")));
const offConfig = { ...dev, detectors: [], workflows };
const offEnv = join(work, "off.env");
writeFileSync(offEnv, `BATON_CONFIG='${JSON.stringify(offConfig)}'\n`);
const [on, off] = await Promise.all([startServer("on"), startServer("off", { file: offEnv })]);

// 1. Lag from the flow's last receipt to its signal.
const lags = [];
for (let i = 0; i < SEQUENCES; i++) {
  const actor = `bench-actor-${i}-${crypto.randomUUID().slice(0, 6)}`;
  const started = await call(on, "POST", "/v1/sequences", "dev-orchestrator-key", { workflow: "report-publication", params: { dataset: "d", dashboard: "p" }, subject: "user:bench", actor });
  const read = await call(on, "POST", "/v1/redeem", "dev-tool-warehouse-key", { token: started.capability, action: "records.read", args: { dataset: "d" } });
  const next = await call(on, "POST", "/v1/outcomes", "dev-tool-warehouse-key", { receipt: read.receipt, outcome: "succeeded" });
  const summary = await call(on, "POST", "/v1/redeem", "dev-tool-model-key", { token: next.capability, action: "summary.create", args: {} });
  const publish = await call(on, "POST", "/v1/outcomes", "dev-tool-model-key", { receipt: summary.receipt, outcome: "succeeded" });
  const published = await call(on, "POST", "/v1/redeem", "dev-tool-dashboard-key", { token: publish.capability, action: "dashboard.publish", args: { dashboard: "p" } });
  if (published.decision !== "ALLOW") throw new Error(JSON.stringify(published));
  const committed = performance.now();
  for (;;) {
    const listed = await call(on, "GET", `/v1/signals?actor=${actor}`, "dev-operator-key");
    if (listed.signals?.some((s) => s.detector === "flow.restricted-to-public")) break;
    if (performance.now() - committed > 30_000) throw new Error(`no signal for ${actor}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  lags.push(performance.now() - committed);
}

// 2. The gate, analysis on vs off, alternating one request at a time — back to back,
//    and spaced so the previous request's background delivery has finished (under
//    wrangler dev every Durable Object shares one thread, so back to back the on
//    server's redeem also waits for the analysts' work of the request before).
const latency = { "off, back to back": [], "on, back to back": [], "off, spaced 100 ms": [], "on, spaced 100 ms": [] };
const prepare = async (base) => {
  const s = await call(base, "POST", "/v1/sequences", "dev-orchestrator-key", { workflow: "deployment", params: { service: "checkout", version: "2.4.1" }, subject: "user:bench", actor: "agent-7" });
  return s.capability;
};
for (const spacing of [0, 100]) {
  for (let i = 0; i < REDEEMS + 20; i++) {
    for (const [name, base] of i % 2 ? [["on", on], ["off", off]] : [["off", off], ["on", on]]) {
      const token = await prepare(base);
      if (spacing) await new Promise((r) => setTimeout(r, spacing));
      const t0 = performance.now();
      const answer = await call(base, "POST", "/v1/redeem", "dev-tool-deployer-key", { token, action: "deploy.canary", args: { service: "checkout", version: "2.4.1", percent: 5 } });
      const ms = performance.now() - t0;
      if (answer.decision !== "ALLOW") throw new Error(JSON.stringify(answer));
      if (i >= 20) latency[`${name}, ${spacing ? `spaced ${spacing} ms` : "back to back"}`].push(ms); // the first 20 warm up
    }
  }
}

console.log(`\nanalysis plane under wrangler dev (${SEQUENCES} flows, ${REDEEMS} redeems per side)\n`);
console.log(`lag, flow-completing receipt answered → signal listed: median ${percentile(lags, 50).toFixed(1)} ms, p90 ${percentile(lags, 90).toFixed(1)} ms, max ${Math.max(...lags).toFixed(1)} ms`);
for (const [name, values] of Object.entries(latency)) {
  console.log(`redeem (ALLOW), analysis ${name.padEnd(20)}: median ${percentile(values, 50).toFixed(2)} ms, p99 ${percentile(values, 99).toFixed(2)} ms`);
}
for (const mode of ["back to back", "spaced 100 ms"]) {
  console.log(`ratio on/off (median), ${mode}: ${(percentile(latency[`on, ${mode}`], 50) / percentile(latency[`off, ${mode}`], 50)).toFixed(2)}x`);
}
process.exit(0);
