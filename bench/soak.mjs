#!/usr/bin/env node
// `npm run bench:soak`: one actor under sustained load with the bundled configuration
// (detectors on). 20,000 redeems over 2,000 reimbursement sequences (ten of `receipts.read`
// each), in ten parts; beside the load, probes measure the analysis lag: a report-publication
// flow (restricted read -> summary -> public write) whose flow signal is timed from the write's
// answer until the operator lists it. Reports each part's throughput, latency and CPU per
// redeem, last part against first, the lag, and the analyst's stored rows against the events
// inside its windows. See bench/README.md.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { freePort, killGroup, startServer } from "./chaos/lib.mjs";
import { settle, treeCpu } from "./cpu.mjs";
import { KEY, PREP_CONCURRENCY, REIMBURSEMENT, call, expectAnswer, inPool } from "./prepare.mjs";

const { values: flags } = parseArgs({
  options: {
    redeems: { type: "string", default: "20000" },
    sequences: { type: "string", default: "2000" },
    parts: { type: "string", default: "10" },
    connections: { type: "string", default: "10" },
    "prune-wait": { type: "string", default: "70" },
    warmup: { type: "string", default: "2000" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (flags.help) {
  console.log(`usage: npm run bench:soak [-- options]
  --redeems N      redeems in all (default 20000), spread evenly over the sequences
  --sequences N    reimbursement sequences, all of actor agent-7 (default 2000; at most 20 redeems each)
  --parts N        parts the run is split into and compared (default 10)
  --connections N  requests in flight (default 10)
  --prune-wait S   seconds to wait at the end for the analyst's pruning alarm (default 70)
  --warmup N       redeems of the same kind before the measured parts, not measured (default 2000)`);
  process.exit(0);
}
const REDEEMS = Number(flags.redeems);
const SEQUENCES = Number(flags.sequences);
const PARTS = Number(flags.parts);
const CONNECTIONS = Number(flags.connections);
const PER_SEQUENCE = Math.ceil(REDEEMS / SEQUENCES);
if (PER_SEQUENCE > 20 || SEQUENCES % PARTS !== 0) {
  console.error("--sequences must be a multiple of --parts, with at most 20 redeems per sequence (the grant's uses)");
  process.exit(2);
}
const ACTOR = "agent-7";
const TOOL_KEY = { expenses: "dev-tool-expenses-key", warehouse: "dev-tool-warehouse-key", model: "dev-tool-model-key", dashboard: "dev-tool-dashboard-key" };
const OPERATOR_KEY = "dev-operator-key";

const workdir = mkdtempSync(join(tmpdir(), "baton-soak-"));
const server = await startServer({ port: await freePort(), inspectorPort: await freePort(), persistTo: join(workdir, "state") });
const baton = { base: server.base };
const pid = server.child.pid;

const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
};

async function get(path, key) {
  const response = await fetch(`${server.base}${path}`, { headers: { authorization: `Bearer ${key}` } });
  return { status: response.status, json: await response.json() };
}

/** A report-publication flow of the soak's actor; resolves with the time from the public write's answer to its flow signal being listed. */
async function probe() {
  const started = await call(baton.base, "/v1/sequences", KEY.orchestrator, {
    workflow: "report-publication",
    params: { dataset: "patients-2026", dashboard: "public-stats" },
    subject: "user:bench",
    actor: ACTOR,
  });
  expectAnswer("probe start", started, 201, (b) => typeof b.capability === "string");
  const read = await call(baton.base, "/v1/redeem", TOOL_KEY.warehouse, { token: started.json.capability, action: "records.read", args: { dataset: "patients-2026" } });
  expectAnswer("probe read", read, 200, (b) => b.decision === "ALLOW");
  const summarise = await call(baton.base, "/v1/outcomes", TOOL_KEY.warehouse, { receipt: read.json.receipt, outcome: "succeeded" });
  const summary = await call(baton.base, "/v1/redeem", TOOL_KEY.model, { token: summarise.json.capability, action: "summary.create", args: {} });
  const publish = await call(baton.base, "/v1/outcomes", TOOL_KEY.model, { receipt: summary.json.receipt, outcome: "succeeded" });
  const before = new Set((await get(`/v1/signals?actor=${ACTOR}&log_limit=1&in_force=true`, OPERATOR_KEY)).json.signals.map((s) => s.id));
  const published = await call(baton.base, "/v1/redeem", TOOL_KEY.dashboard, { token: publish.json.capability, action: "dashboard.publish", args: { dashboard: "public-stats" } });
  expectAnswer("probe publish", published, 200, (b) => b.decision === "ALLOW");
  const answered = performance.now();
  for (;;) {
    const { json } = await get(`/v1/signals?actor=${ACTOR}&log_limit=1&in_force=true`, OPERATOR_KEY);
    const signal = json.signals.find((s) => s.detector === "flow.restricted-to-public" && !before.has(s.id));
    if (signal) {
      const lag = performance.now() - answered;
      // Cleared, so the next probe's restricted read is not blocked by it.
      await call(baton.base, `/v1/signals/${signal.id}/clear`, OPERATOR_KEY, { actor: ACTOR, note: "soak probe" });
      return lag;
    }
    if (performance.now() - answered > 120_000) throw new Error("no flow signal within 120 s");
    await new Promise((r) => setTimeout(r, 20));
  }
}

const parts = [];
const lags = [];
let redeemsDone = 0;

/** `count` reimbursement sequences of the actor, started 10 at a time (not measured): their capabilities. */
function startReimbursements(count, label) {
  return inPool(count, PREP_CONCURRENCY, label, async () => {
    const started = await call(baton.base, "/v1/sequences", KEY.orchestrator, { workflow: "reimbursement", params: REIMBURSEMENT, subject: "user:bench", actor: ACTOR });
    expectAnswer("start", started, 201, (b) => typeof b.capability === "string");
    return started.json.capability;
  });
}

/** Redeems of fresh sequences of the actor, 10 in flight, not measured: JIT, caches and the analyst warm. */
async function warmUp(count) {
  const tokens = await startReimbursements(Math.ceil(count / PER_SEQUENCE), "warm-up: start sequences");
  const items = Array.from({ length: count }, (_, i) => tokens[i % tokens.length]);
  await inPool(items.length, CONNECTIONS, "warm-up: redeems", (i) =>
    call(baton.base, "/v1/redeem", TOOL_KEY.expenses, { token: items[i], action: "receipts.read", args: { report: REIMBURSEMENT.report } }),
  );
}

try {
  console.error(`soak: ${REDEEMS} redeems over ${SEQUENCES} sequences of ${ACTOR}, ${PARTS} parts, ${CONNECTIONS} connections; bundled configuration`);
  if (Number(flags.warmup) > 0) await warmUp(Number(flags.warmup));
  for (let part = 0; part < PARTS; part++) {
    const sequences = await startReimbursements(SEQUENCES / PARTS, `part ${part + 1}: start sequences`);
    // Round-robin over the part's sequences, as many agents working side by side would.
    const items = [];
    for (let k = 0; k < PER_SEQUENCE; k++) for (const token of sequences) if (redeemsDone + items.length < REDEEMS) items.push(token);
    await settle(pid);
    const cpuBefore = treeCpu(pid).workerdMs;
    const latencies = [];
    let failures = 0;
    let next = 0;
    let loadDone = false;
    const started = performance.now();
    const load = Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        while (next < items.length) {
          const token = items[next++];
          const t = performance.now();
          const r = await call(baton.base, "/v1/redeem", TOOL_KEY.expenses, { token, action: "receipts.read", args: { report: REIMBURSEMENT.report } });
          latencies.push(performance.now() - t);
          if (r.status !== 200 || r.json?.decision !== "ALLOW") failures++;
        }
      }),
    ).finally(() => {
      loadDone = true;
    });
    // Probes beside the load, one after another, for as long as the part lasts (at least one).
    const partLags = [];
    do partLags.push(await probe());
    while (!loadDone);
    await load;
    const seconds = (performance.now() - started) / 1000;
    await settle(pid);
    const cpuMs = treeCpu(pid).workerdMs - cpuBefore;
    redeemsDone += items.length;
    lags.push(...partLags);
    const row = {
      part: part + 1,
      redeems: items.length,
      failures,
      reqPerSec: items.length / seconds,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      cpuMicrosPerRequest: (cpuMs * 1000) / items.length,
      lagP50: percentile(partLags, 50),
      probes: partLags.length,
    };
    parts.push(row);
    console.error(
      `  part ${row.part}: ${row.redeems} redeems in ${seconds.toFixed(1)} s, ${row.reqPerSec.toFixed(0)} req/s, p50 ${row.p50.toFixed(1)} ms, p99 ${row.p99.toFixed(1)} ms, ` +
        `workerd CPU ${row.cpuMicrosPerRequest.toFixed(0)} µs/redeem (probes included), ${row.probes} probe(s), lag p50 ${row.lagP50.toFixed(0)} ms${failures ? `, ${failures} FAILED` : ""}`,
    );
  }
  const storedNow = (await get(`/v1/signals?actor=${ACTOR}&log_limit=1&stored=true`, OPERATOR_KEY)).json.stored;
  console.error(`waiting ${flags["prune-wait"]} s for the analyst's pruning alarm...`);
  await new Promise((r) => setTimeout(r, Number(flags["prune-wait"]) * 1000));
  const listed = (await get(`/v1/signals?actor=${ACTOR}&log_limit=1&stored=true`, OPERATOR_KEY)).json;
  const first = parts[0];
  const last = parts.at(-1);
  const lastLags = lags.slice(-Math.max(1, last.probes));
  const fmt = (x, d = 1) => (x === null || x === undefined ? "-" : x.toFixed(d));
  console.log(`\nBaton soak: ${REDEEMS} redeems over ${SEQUENCES} sequences of one actor (${ACTOR}), ${CONNECTIONS} connections, bundled configuration\n`);
  console.log("part  redeems  req/s  p50 ms  p99 ms  CPU µs/redeem  probes  lag p50 ms");
  for (const r of parts) {
    console.log(
      `${String(r.part).padStart(4)}  ${String(r.redeems).padStart(7)}  ${fmt(r.reqPerSec, 0).padStart(5)}  ${fmt(r.p50).padStart(6)}  ${fmt(r.p99).padStart(6)}  ${fmt(r.cpuMicrosPerRequest, 0).padStart(13)}  ${String(r.probes).padStart(6)}  ${fmt(r.lagP50, 0).padStart(10)}`,
    );
  }
  console.log(`\nthroughput, last part ÷ first: ${fmt(last.reqPerSec / first.reqPerSec, 2)}x; p50, last ÷ first: ${fmt(last.p50 / first.p50, 2)}x; CPU per redeem, last ÷ first: ${fmt(last.cpuMicrosPerRequest / first.cpuMicrosPerRequest, 2)}x`);
  console.log(`analysis lag (redeem answered -> receipt delivered -> judged -> signal signed and listed), ${lags.length} probes: p50 ${fmt(percentile(lags, 50), 0)} ms, p99 ${fmt(percentile(lags, 99), 0)} ms; last part: p50 ${fmt(percentile(lastLags, 50), 0)} ms, p99 ${fmt(percentile(lastLags, 99), 0)} ms`);
  const inWindow = REDEEMS + Number(flags.warmup) + lags.length * 3;
  console.log(`analyst rows at the end (actor ${ACTOR}), against ${inWindow} allowed actions inside the 24 h flow window: ` + `${JSON.stringify(storedNow)}; after its pruning alarm: ${JSON.stringify(listed.stored)}`);
  const failed = parts.reduce((a, r) => a + r.failures, 0);
  if (failed > 0) {
    console.log(`FAILED: ${failed} redeems were not ALLOW`);
    process.exitCode = 1;
  }
} finally {
  killGroup(server.child);
  await new Promise((r) => setTimeout(r, 500));
  killGroup(server.child, "SIGKILL");
  rmSync(workdir, { recursive: true, force: true });
}
