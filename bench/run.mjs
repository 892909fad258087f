#!/usr/bin/env node
// `npm run bench`: latency and throughput of Baton's redeem (the gate) and advance
// (evidence that opens the next stage), side by side with a bare Durable Object round
// trip (bench/bare/) as the floor. See bench/README.md.
//
//   npm run bench [-- --requests 2000 --warmup 200 --connections 10]
//
// Starts `wrangler dev` twice (Baton and the bare Worker) on free loopback ports with
// throw-away state under the OS temp dir, prepares single-use tokens and signed
// attestations, fires them with autocannon, prints a table, writes bench/results/<ts>.json
// and stops both servers (also on error and Ctrl-C).
import { execFileSync, spawn } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { arch, cpus, platform, release, tmpdir, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { settle, treeCpu, treeWrites } from "./cpu.mjs";
import { CANARY_ARGS, KEY, PREP_CONCURRENCY, attestation, awaitingApproval, bareObjects, call, expectAnswer, inPool, startSequences } from "./prepare.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const BENCH = join(ROOT, "bench");

// ---------------------------------------------------------------- options

const { values: flags } = parseArgs({
  options: {
    requests: { type: "string" },
    warmup: { type: "string" },
    connections: { type: "string" },
    rounds: { type: "string" },
    "startup-timeout": { type: "string" },
    "keep-state": { type: "boolean", default: false },
    only: { type: "string" },
    trail: { type: "string" },
    "local-observability": { type: "string" },
    age: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (flags.help) {
  console.log(`usage: npm run bench [-- options]
  --requests N         measured requests per scenario   (env BENCH_REQUESTS, default 2000)
  --warmup N           unmeasured requests per scenario (env BENCH_WARMUP, default 200)
  --connections N      concurrent connections           (env BENCH_CONNECTIONS, default 10)
  --rounds N           split the measured requests into N rounds that alternate the
                       scenarios, to expose drift        (env BENCH_ROUNDS, default 2)
  --startup-timeout S  seconds to wait for wrangler dev (env BENCH_STARTUP_TIMEOUT, default 120)
  --keep-state         keep the temporary state and server logs
  --trail S            wait S more seconds after each scenario's requests before reading the CPU
                       counters, so work they leave for later (an alarm) is counted (default 0)
  --age S              measure objects idle for at least S seconds since their preparation
                       (env BENCH_AGE, default 15: older than wrangler dev keeps an idle object,
                       about 10 s, so every scenario reaches evicted objects alike; 0: no wait)
  --local-observability on|off
                       wrangler dev's local trace collector for both servers (env
                       BENCH_LOCAL_OBSERVABILITY; default on, as \`wrangler dev\` runs it)
  --only IDS           these scenarios only (comma-separated: bare-do-call, bare-do-hot, redeem, advance, approve),
                       beside the floor, which every run measures`);
  process.exit(0);
}

function intOption(flag, env, fallback, min) {
  const raw = flags[flag] ?? process.env[env];
  const value = raw === undefined || raw === "" ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < min) {
    console.error(`--${flag} / ${env} must be an integer >= ${min} (got ${raw})`);
    process.exit(2);
  }
  return value;
}

const CONNECTIONS = intOption("connections", "BENCH_CONNECTIONS", 10, 1);
const ROUNDS = intOption("rounds", "BENCH_ROUNDS", 2, 1);
const REQUESTS = intOption("requests", "BENCH_REQUESTS", 2000, CONNECTIONS * ROUNDS);
const WARMUP = intOption("warmup", "BENCH_WARMUP", 200, 0);
const STARTUP_TIMEOUT_S = intOption("startup-timeout", "BENCH_STARTUP_TIMEOUT", 120, 1);
const TRAIL_S = intOption("trail", "BENCH_TRAIL", 0, 0);
// wrangler dev evicts an object idle for about 10 s. Without a wait, a scenario whose
// preparation is quick (the floor: 1,000 objects in a few seconds) measures objects still in
// memory while one whose preparation takes half a minute (redeem's sequences) measures mostly
// evicted ones, which each request must open again (its files, its schema): not like for like.
const AGE_S = intOption("age", "BENCH_AGE", 15, 0);
// wrangler dev (4.15x) runs a local trace collector by default (X_LOCAL_OBSERVABILITY): every
// span of the Worker and its objects (each SQL statement, each call) becomes a tail event that
// it stores in SQLite, in the same process. Production has nothing like it; `off` measures
// both servers without it, to see what it costs (README, "Under sustained load").
const LOCAL_OBSERVABILITY = flags["local-observability"] ?? process.env.BENCH_LOCAL_OBSERVABILITY ?? "on";
if (LOCAL_OBSERVABILITY !== "on" && LOCAL_OBSERVABILITY !== "off") {
  console.error(`--local-observability / BENCH_LOCAL_OBSERVABILITY must be on or off (got ${LOCAL_OBSERVABILITY})`);
  process.exit(2);
}
if (WARMUP > 0 && WARMUP < CONNECTIONS) {
  console.error(`--warmup must be 0 or >= --connections (${CONNECTIONS})`);
  process.exit(2);
}


// ---------------------------------------------------------------- servers

const workdir = mkdtempSync(join(tmpdir(), "baton-bench-"));
const servers = [];

const childEnv = {
  ...process.env,
  WRANGLER_SEND_METRICS: "false",
  X_LOCAL_OBSERVABILITY: LOCAL_OBSERVABILITY === "on" ? "true" : "false",
  // npm scripts already put the bundled Node 22 first; `node bench/run.mjs` may not.
  PATH: `${join(ROOT, "node_modules", ".bin")}:${process.env.PATH ?? ""}`,
};

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function startServer(name, cwd, readyPath) {
  const port = await freePort();
  const inspectorPort = await freePort();
  const logPath = join(workdir, `${name}.log`);
  const fd = openSync(logPath, "a");
  const args = ["wrangler", "dev", "--ip", "127.0.0.1", "--port", String(port)];
  args.push("--inspector-port", String(inspectorPort), "--persist-to", join(workdir, `${name}-state`));
  // Its own process group, so stopping it stops npx, wrangler and workerd together.
  const child = spawn("npx", args, { cwd, env: childEnv, detached: true, stdio: ["ignore", fd, fd] });
  closeSync(fd);
  const server = { name, port, base: `http://127.0.0.1:${port}`, child, logPath, exited: false };
  server.exit = new Promise((resolve) => {
    child.on("exit", (code, signal) => {
      server.exited = true;
      resolve({ code, signal });
    });
    child.on("error", (error) => {
      server.exited = true;
      server.error = error;
      resolve({ code: null, signal: null });
    });
  });
  servers.push(server);

  const deadline = Date.now() + STARTUP_TIMEOUT_S * 1000;
  while (Date.now() < deadline) {
    if (server.exited) throw new Error(`${name}: wrangler dev exited before serving\n${logTail(server)}`);
    try {
      const response = await fetch(`${server.base}${readyPath}`, { signal: AbortSignal.timeout(5000) });
      await response.arrayBuffer();
      if (response.ok) return server;
    } catch {
      // not listening yet
    }
    await sleep(500);
  }
  throw new Error(`${name}: not ready within ${STARTUP_TIMEOUT_S} s\n${logTail(server)}`);
}

function logTail(server, lines = 40) {
  try {
    return readFileSync(server.logPath, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

function groupAlive(pid) {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function stopServer(server) {
  const pid = server.child.pid;
  if (pid === undefined) return;
  for (const [signal, wait] of [["SIGTERM", 5000], ["SIGKILL", 2000]]) {
    if (!groupAlive(pid)) return;
    try {
      process.kill(-pid, signal);
    } catch {
      return;
    }
    const until = Date.now() + wait;
    while (Date.now() < until && groupAlive(pid)) await sleep(100);
  }
}

let cleaning = null;
function cleanup(keep) {
  cleaning ??= (async () => {
    await Promise.all(servers.map(stopServer));
    if (keep) console.error(`state and server logs kept in ${workdir}`);
    else rmSync(workdir, { recursive: true, force: true });
  })();
  return cleaning;
}

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping the servers`);
    cleanup(flags["keep-state"]).finally(() => process.exit(130));
  });
}

// ---------------------------------------------------------------- preparation

// ---------------------------------------------------------------- scenarios

/**
 * Each scenario prepares `count` single-use items (one per request: an object name, a
 * fresh capability, a sequence with its attestation), builds a request from one item and
 * says whether a 2xx answer is the one expected.
 */
const allScenarios = [
  {
    id: "bare-do",
    label: "bare DO (floor)",
    server: "bare",
    note: "Worker -> RPC on a SQLite DO -> 1 read + 1 write; a different, already created object per request",
    headers: {},
    prepare: (bare, count) => bareObjects(bare, count),
    build: (object) => ({ path: "/", body: { object } }),
    expected: (body) => body.includes('"n":2'),
  },
  {
    id: "bare-do-call",
    label: "bare DO + a call on a 2nd object",
    server: "bare",
    note: "the floor, and after its write one call (not awaited) on one shared second object, which reads and writes a row: what any delivery of each receipt to another object costs at least",
    headers: {},
    prepare: (bare, count) => bareObjects(bare, count),
    build: (object) => ({ path: "/", body: { object, next: "bench-second-object" } }),
    expected: (body) => body.includes('"n":2'),
  },
  {
    id: "bare-do-hot",
    label: "bare DO, one hot object",
    server: "bare",
    note: "same Worker, every request on the same object (for reference; not the floor)",
    headers: {},
    prepare: async (_bare, count) => new Array(count).fill("bench-hot"),
    build: (object) => ({ path: "/", body: { object } }),
    expected: (body) => body.includes('"n":'),
  },
  {
    id: "redeem",
    label: "redeem (gate, ALLOW)",
    server: "baton",
    note: "POST /v1/redeem deploy.canary with a fresh single-use capability per request",
    headers: { authorization: `Bearer ${KEY.deployer}` },
    prepare: (baton, count) => startSequences(baton, count),
    build: ({ capability }) => ({ path: "/v1/redeem", body: { token: capability, action: "deploy.canary", args: CANARY_ARGS } }),
    expected: (body) => body.includes('"decision":"ALLOW"'),
  },
  {
    id: "advance",
    label: "advance (evidence -> next capability)",
    server: "baton",
    note: "POST /v1/sequences/:id/evidence with a monitor canary_passed attestation; canary already redeemed",
    headers: { authorization: `Bearer ${KEY.agent}` },
    async prepare(baton, count) {
      const sequences = await startSequences(baton, count);
      await inPool(count, PREP_CONCURRENCY, "redeem canaries", async (i) => {
        const { capability } = sequences[i];
        const result = await call(baton.base, "/v1/redeem", KEY.deployer, {
          token: capability,
          action: "deploy.canary",
          args: CANARY_ARGS,
        });
        expectAnswer("canary redeem", result, 200, (b) => b.decision === "ALLOW");
      });
      const started = performance.now();
      for (const sequence of sequences) sequence.attestation = await attestation(sequence.seq);
      console.error(`  sign attestations: ${count} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
      return sequences;
    },
    build: ({ seq, attestation }) => ({ path: `/v1/sequences/${seq}/evidence`, body: { attestation } }),
    expected: (body) => body.includes('"capability":"ey') && body.includes('"stage":"rollout"'),
  },
  {
    id: "approve",
    label: "approve (approval -> next capability)",
    server: "baton",
    note: "POST /v1/sequences/:id/approvals: the finance manager's approval that completes a 1-of-n gate of a reimbursement",
    headers: { authorization: `Bearer ${KEY.approver}` },
    prepare: (baton, count) => awaitingApproval(baton, count),
    build: ({ seq, approval }) => ({ path: `/v1/sequences/${seq}/approvals`, body: { approval } }),
    expected: (body) => body.includes('"capability":"ey') && body.includes('"stage":"pay"'),
  },
];

const only = flags.only?.split(",").map((id) => id.trim());
const unknown = only?.filter((id) => !allScenarios.some((s) => s.id === id)) ?? [];
if (unknown.length > 0) {
  console.error(`--only: no scenario ${unknown.join(", ")}`);
  process.exit(2);
}
const scenarios = only ? allScenarios.filter((s) => s.id === "bare-do" || only.includes(s.id)) : allScenarios;

/** The longest wait for the server to go idle after a scenario's preparation, before measuring. */
const PREP_SETTLE_MAX_MS = 120_000;

/** Fires one request per item, CONNECTIONS at a time, and measures every answer. */
async function fire(server, scenario, items) {
  let next = 0;
  let exhausted = 0;
  let unexpected = 0;
  const samples = [];
  const latencies = [];
  const requests = [
    {
      method: "POST",
      headers: { "content-type": "application/json", ...scenario.headers },
      setupRequest(request) {
        const item = items[next++];
        if (item === undefined) {
          // Cannot happen with amount === items.length; counted as an error if it does.
          exhausted++;
          return { ...request, path: "/__bench_exhausted", body: "{}" };
        }
        const { path, body } = scenario.build(item);
        return { ...request, path, body: JSON.stringify(body) };
      },
      onResponse(status, body) {
        if (status >= 200 && status < 300 && !scenario.expected(body)) {
          unexpected++;
          if (samples.length < 3) samples.push(body.slice(0, 300));
        } else if ((status < 200 || status >= 300) && samples.length < 3) {
          samples.push(`${status} ${body.slice(0, 300)}`);
        }
      },
    },
  ];
  // autocannon only notices the end at its next 1 s sampling tick, so the run's wall
  // time is rounded up to whole seconds: req/s is measured from the first request sent
  // to the last answer received instead.
  let lastAnswer = 0;
  const started = performance.now();
  const instance = autocannon({
    url: server.base,
    connections: CONNECTIONS,
    amount: items.length,
    timeout: 30,
    requests,
  });
  instance.on("response", (_client, _status, _bytes, responseTimeMs) => {
    latencies.push(responseTimeMs);
    lastAnswer = performance.now();
  });
  const result = await instance;
  const seconds = ((lastAnswer || performance.now()) - started) / 1000;
  return { result, seconds, latencies, unexpected: unexpected + exhausted, samples, used: next };
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

const ms = (x) => (x === null || x === undefined ? null : Math.round(x * 1000) / 1000);

function latencySummary(latencies) {
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    min: ms(sorted[0]),
    p50: ms(percentile(sorted, 50)),
    p90: ms(percentile(sorted, 90)),
    p99: ms(percentile(sorted, 99)),
    max: ms(sorted.at(-1)),
    mean: ms(sorted.length ? sorted.reduce((a, b) => a + b, 0) / sorted.length : null),
  };
}

/** One scenario over all its rounds: every answer of every round counts once. */
function summarize(scenario, runs) {
  const latencies = runs.flatMap((run) => run.latencies);
  const seconds = runs.reduce((sum, run) => sum + run.seconds, 0);
  const sum = (pick) => runs.reduce((total, run) => total + pick(run), 0);
  const statusCodes = {};
  for (const run of runs) {
    for (const [code, { count }] of Object.entries(run.result.statusCodeStats ?? {})) {
      statusCodes[code] = (statusCodes[code] ?? 0) + count;
    }
  }
  return {
    id: scenario.id,
    label: scenario.label,
    note: scenario.note,
    answered: latencies.length,
    non2xx: sum((run) => run.result.non2xx),
    unexpectedBody: sum((run) => run.unexpected),
    errors: sum((run) => run.result.errors),
    timeouts: sum((run) => run.result.timeouts),
    statusCodes,
    failureSamples: runs.flatMap((run) => run.samples).slice(0, 5),
    seconds: Math.round(seconds * 1000) / 1000,
    reqPerSec: Math.round((latencies.length / seconds) * 10) / 10,
    latencyMs: latencySummary(latencies),
    // CPU microseconds per answered request: workerd (the Worker, its Durable Objects and
    // wrangler's proxy Worker) and the rest of the tree (wrangler's Node process, npx).
    cpuMicrosPerRequest: {
      workerd: Math.round((sum((run) => run.cpu.workerdMs) * 1000) / latencies.length),
      other: Math.round((sum((run) => run.cpu.otherMs) * 1000) / latencies.length),
    },
    // Write system calls and bytes of workerd per answered request, counted like the CPU.
    writesPerRequest: {
      calls: Math.round((sum((run) => run.writes.calls) / latencies.length) * 10) / 10,
      kib: Math.round((sum((run) => run.writes.bytes) / 1024 / latencies.length) * 10) / 10,
    },
    prepSeconds: Math.round(sum((run) => run.prepSeconds) * 10) / 10,
    rounds: runs.map((run) => ({
      answered: run.latencies.length,
      seconds: Math.round(run.seconds * 1000) / 1000,
      reqPerSec: Math.round((run.latencies.length / run.seconds) * 10) / 10,
      latencyMs: latencySummary(run.latencies),
      cpu: run.cpu,
      writes: run.writes,
      prepSeconds: Math.round(run.prepSeconds * 10) / 10,
      // autocannon's own summary (whole-millisecond histogram of 2xx answers only,
      // per-second request samples), kept for cross-checking.
      autocannon: {
        duration: run.result.duration,
        latency: run.result.latency,
        requests: run.result.requests,
        throughput: run.result.throughput,
        non2xx: run.result.non2xx,
        errors: run.result.errors,
        timeouts: run.result.timeouts,
        resets: run.result.resets,
      },
    })),
  };
}

// ---------------------------------------------------------------- report

function table(rows, floor) {
  const header = ["scenario", "requests", "non-2xx", "bad body", "req/s", "req/s ÷ floor", "p50 ms", "p99 ms", "p50 / floor", "CPU µs/req", "CPU beyond floor", "writes/req", "KiB/req"];
  if (ROUNDS > 1) header.push("p50 ms by round", "last ÷ first");
  const fmt = (x, digits = 2) => (x === null || x === undefined ? "-" : x.toFixed(digits));
  const lines = rows.map((r) => [
    r.label,
    String(r.answered),
    String(r.non2xx + r.errors),
    String(r.unexpectedBody),
    fmt(r.reqPerSec, 0),
    floor ? `${fmt(r.reqPerSec / floor.reqPerSec)}x` : "-",
    fmt(r.latencyMs.p50),
    fmt(r.latencyMs.p99),
    floor ? `${fmt(r.latencyMs.p50 / floor.latencyMs.p50, 1)}x` : "-",
    String(r.cpuMicrosPerRequest.workerd),
    floor ? String(r.cpuMicrosPerRequest.workerd - floor.cpuMicrosPerRequest.workerd) : "-",
    fmt(r.writesPerRequest.calls, 1),
    fmt(r.writesPerRequest.kib, 1),
    ...(ROUNDS > 1
      ? [
          r.rounds.map((round) => fmt(round.latencyMs.p50, 1)).join(" / "),
          `${fmt((r.rounds.at(-1)?.latencyMs.p50 ?? 0) / (r.rounds[0]?.latencyMs.p50 ?? 1))}x`,
        ]
      : []),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const render = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [render(header), widths.map((w) => "-".repeat(w)).join("  "), ...lines.map(render)].join("\n");
}

/** The commit measured, and the files that differed from it (the numbers are of the tree, not the commit). */
function gitState() {
  try {
    const commit = execFileSync("git", ["rev-parse", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();
    const changed = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], { cwd: ROOT, encoding: "utf8" })
      .split("\n")
      .filter((line) => line.trim() !== "")
      .map((line) => line.slice(3));
    return { commit, changed };
  } catch {
    return null;
  }
}

function packageVersion(name) {
  try {
    return JSON.parse(readFileSync(join(ROOT, "node_modules", name, "package.json"), "utf8")).version;
  } catch {
    return null;
  }
}

/** Lines of a server log that say something went wrong or the Worker was rebuilt mid-run. */
function logWarnings(server) {
  let text = "";
  try {
    text = readFileSync(server.logPath, "utf8");
  } catch {
    return [];
  }
  const noise = /Request\.cf|workers\.cloudflare\.com|getaddrinfo|GetAddrInfoReqWrap|Unknown user config|update available/;
  return text
    .split("\n")
    .filter((line) => /error|exception|reload|detected changes|uncaught|\s5\d\d\s/i.test(line) && !noise.test(line))
    .slice(0, 20);
}

// ---------------------------------------------------------------- main

async function main() {
  const startedAt = new Date();
  const git = gitState();
  console.error(
    `bench: ${REQUESTS} requests per scenario in ${ROUNDS} round(s) after ${WARMUP} warm-up, ${CONNECTIONS} connections (${cpus().length} CPUs)`,
  );
  console.error("starting wrangler dev (Baton and the bare Durable Object Worker)...");
  const [baton, bare] = await Promise.all([
    startServer("baton", ROOT, "/.well-known/jwks.json"),
    startServer("bare", join(BENCH, "bare"), "/"),
  ]);
  console.error(`  Baton on ${baton.base}, bare DO on ${bare.base}`);
  const byName = { baton, bare };

  // Rounds alternate the scenarios, so a machine that slows down (a noisy neighbour, the
  // other server's background work) shows up as rounds that disagree, not as a fake ratio.
  const runs = new Map(scenarios.map((scenario) => [scenario.id, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const count = Math.floor(REQUESTS / ROUNDS) + (round < REQUESTS % ROUNDS ? 1 : 0);
    const warmup = round === 0 ? WARMUP : 0;
    for (const scenario of scenarios) {
      const server = byName[scenario.server];
      console.error(`\n${scenario.label}${ROUNDS > 1 ? `, round ${round + 1}/${ROUNDS}` : ""}`);
      const prepStarted = performance.now();
      const items = await scenario.prepare(server, warmup + count);
      const preparedAt = performance.now();
      const prepSeconds = (preparedAt - prepStarted) / 1000;
      if (warmup > 0) {
        const warm = await fire(server, scenario, items.slice(0, warmup));
        const bad = warm.result.non2xx + warm.result.errors + warm.unexpected;
        console.error(`  warm-up: ${warmup} requests in ${warm.seconds.toFixed(1)} s${bad ? `, ${bad} FAILED` : ""}`);
      }
      // CPU of the server's processes over the measured requests and the work they left
      // behind (settled before and after, so preparation and warm-up are not counted:
      // preparing a thousand sequences leaves a thousand deliveries to the sequence index
      // behind it, which may take longer than the default wait).
      const settledMs = await settle(server.child.pid, { maxMs: PREP_SETTLE_MAX_MS });
      if (settledMs > 1000) console.error(`  settled: ${(settledMs / 1000).toFixed(1)} s for the preparation's deferred work`);
      const young = AGE_S * 1000 - (performance.now() - preparedAt);
      if (young > 0) await sleep(young);
      const cpuBefore = treeCpu(server.child.pid);
      const writesBefore = treeWrites(server.child.pid);
      const run = await fire(server, scenario, items.slice(warmup));
      // Work due later than the settle sees (an alarm 30 s on) is counted only with --trail.
      if (TRAIL_S > 0) await new Promise((resolve) => setTimeout(resolve, TRAIL_S * 1000));
      await settle(server.child.pid);
      const cpuAfter = treeCpu(server.child.pid);
      const writesAfter = treeWrites(server.child.pid);
      run.cpu = { workerdMs: cpuAfter.workerdMs - cpuBefore.workerdMs, otherMs: cpuAfter.otherMs - cpuBefore.otherMs };
      run.writes = { calls: writesAfter.calls - writesBefore.calls, bytes: writesAfter.bytes - writesBefore.bytes };
      run.prepSeconds = prepSeconds;
      runs.get(scenario.id).push(run);
      const { p50, p99 } = latencySummary(run.latencies);
      const bad = run.result.non2xx + run.result.errors + run.unexpected;
      console.error(
        `  measured: ${run.latencies.length} in ${run.seconds.toFixed(1)} s, p50 ${p50} ms, p99 ${p99} ms, ` +
          `workerd CPU ${Math.round((run.cpu.workerdMs * 1000) / run.latencies.length)} µs/req, ` +
          `${(run.writes.calls / run.latencies.length).toFixed(1)} writes/req` +
          (bad ? `, ${bad} FAILED: ${run.samples[0] ?? ""}` : ""),
      );
    }
  }
  const rows = scenarios.map((scenario) => summarize(scenario, runs.get(scenario.id)));

  const floor = rows.find((r) => r.id === "bare-do");
  const ratio = (id, p) => {
    const row = rows.find((r) => r.id === id);
    return row && floor ? Math.round((row.latencyMs[p] / floor.latencyMs[p]) * 100) / 100 : null;
  };
  const throughputOverFloor = (id) => {
    const row = rows.find((r) => r.id === id);
    return row && floor ? Math.round((row.reqPerSec / floor.reqPerSec) * 100) / 100 : null;
  };
  const ratios = {
    redeemP50OverFloorP50: ratio("redeem", "p50"),
    advanceP50OverFloorP50: ratio("advance", "p50"),
    redeemP99OverFloorP99: ratio("redeem", "p99"),
    advanceP99OverFloorP99: ratio("advance", "p99"),
    approveP50OverFloorP50: ratio("approve", "p50"),
    approveP99OverFloorP99: ratio("approve", "p99"),
    ...Object.fromEntries(["redeem", "advance", "approve"].map((id) => [`${id}ThroughputOverFloor`, throughputOverFloor(id)])),
    // The floor of a decision that tells one more object (redeem: the actor's analyst).
    oneCallThroughputOverFloor: throughputOverFloor("bare-do-call"),
    ...Object.fromEntries(
      ["redeem", "advance", "approve"].map((id) => {
        const row = rows.find((r) => r.id === id);
        return [`${id}CpuMicrosBeyondFloor`, row && floor ? row.cpuMicrosPerRequest.workerd - floor.cpuMicrosPerRequest.workerd : null];
      }),
    ),
  };
  const warnings = Object.fromEntries(servers.map((s) => [s.name, logWarnings(s)]));
  const failures = rows.filter((r) => r.non2xx + r.errors + r.unexpectedBody > 0 || r.answered !== REQUESTS);

  console.log(
    `\nBaton bench: ${REQUESTS} requests per scenario in ${ROUNDS} round(s), ${CONNECTIONS} connections, ${WARMUP} warm-up (not measured)\n`,
  );
  console.log(table(rows, floor));
  console.log(
    `\nthroughput ÷ floor: redeem ${ratios.redeemThroughputOverFloor}x, advance ${ratios.advanceThroughputOverFloor}x, approve ${ratios.approveThroughputOverFloor}x` +
      `; CPU beyond the floor: redeem ${ratios.redeemCpuMicrosBeyondFloor} µs, advance ${ratios.advanceCpuMicrosBeyondFloor} µs, approve ${ratios.approveCpuMicrosBeyondFloor} µs per request` +
      (ratios.oneCallThroughputOverFloor === null ? "" : `; the floor with one call on a second object: ${ratios.oneCallThroughputOverFloor}x`),
  );
  console.log(
    "latency: client-side per request, over every answer of every round; req/s: answers / time from first request to last answer;\n" +
      "CPU: user + system time of the server's workerd processes over the measured requests and the work they left behind, per answer;\n" +
      "writes: write system calls of those processes (SQLite's page writes, sockets) and the bytes they carried, per answer, counted alike;\n" +
      `objects idle at least ${AGE_S} s before they are measured (--age); wrangler dev's local trace collector: ${LOCAL_OBSERVABILITY} (--local-observability)`,
  );
  for (const [name, lines] of Object.entries(warnings)) {
    if (lines.length > 0) console.log(`\nWARNING: the ${name} server log has suspicious lines:\n  ${lines.join("\n  ")}`);
  }

  const report = {
    startedAt: startedAt.toISOString(),
    config: {
      requests: REQUESTS,
      warmup: WARMUP,
      connections: CONNECTIONS,
      rounds: ROUNDS,
      prepConcurrency: PREP_CONCURRENCY,
      localObservability: LOCAL_OBSERVABILITY,
      objectAgeSeconds: AGE_S,
    },
    environment: {
      node: process.version,
      platform: `${platform()} ${release()} ${arch()}`,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? null,
      memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
      wrangler: packageVersion("wrangler"),
      workerd: packageVersion("workerd"),
      autocannon: packageVersion("autocannon"),
      git,
    },
    scenarios: rows,
    ratios,
    serverLogWarnings: warnings,
  };
  const resultsDir = join(BENCH, "results");
  mkdirSync(resultsDir, { recursive: true });
  const file = `${startedAt.toISOString().replace(/[:.]/g, "-")}.json`;
  writeFileSync(join(resultsDir, file), `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nraw results: bench/results/${file}`);

  if (failures.length > 0) {
    console.log(`\nFAILED: ${failures.map((r) => r.id).join(", ")} had errors or unexpected answers; see the raw results`);
    return 1;
  }
  return 0;
}

let code = 1;
try {
  code = await main();
} catch (error) {
  console.error(`\nbench failed: ${error instanceof Error ? error.stack : error}`);
  code = 1;
} finally {
  await cleanup(flags["keep-state"] || code !== 0);
}
process.exit(code);
