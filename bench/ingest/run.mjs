#!/usr/bin/env node
// `npm run bench:ingest`: the cost of one delivery to the analysis plane's index with few
// actions inside the detectors' windows against many (default 100 against 100,000), with the
// bundled detectors, in workerd (bench/ingest/worker.ts under `wrangler dev`). Side by side in
// rounds; wall time per delivery measured from here, CPU from the workerd processes' counters.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ROOT, freePort, killGroup, startServer } from "../chaos/lib.mjs";
import { treeCpu } from "../cpu.mjs";

const { values: flags } = parseArgs({
  options: {
    small: { type: "string", default: "100" },
    large: { type: "string", default: "100000" },
    deliveries: { type: "string", default: "500" },
    rounds: { type: "string", default: "5" },
    "span-minutes": { type: "string", default: "10" },
  },
});
const SMALL = Number(flags.small);
const LARGE = Number(flags.large);
const DELIVERIES = Number(flags.deliveries);
const ROUNDS = Number(flags.rounds);
const SPAN_MS = Number(flags["span-minutes"]) * 60_000;

const workdir = mkdtempSync(join(tmpdir(), "baton-ingest-"));
const server = await startServer({
  port: await freePort(),
  inspectorPort: await freePort(),
  persistTo: join(workdir, "state"),
  cwd: join(ROOT, "bench", "ingest"),
  readyPath: "/size",
});
const pid = server.child.pid;

async function post(path, object, body) {
  const response = await fetch(`${server.base}${path}?object=${encodeURIComponent(object)}`, { method: "POST", body: JSON.stringify(body ?? {}) });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status} ${await response.text()}`);
  return response.json();
}

/** `count` actions evenly over the SPAN_MS before `end`, delivered in chunks (not measured). */
async function fill(object, count, end) {
  const step = SPAN_MS / count;
  for (let done = 0; done < count; done += 5_000) {
    await post("/deliver", object, { from: end - SPAN_MS + done * step, step, count: Math.min(5_000, count - done), prefix: `fill-${done}` });
  }
}

/** Measured: DELIVERIES more actions at the same density, one delivery each; wall and CPU time. */
async function measure(object, count, from) {
  const step = SPAN_MS / count;
  const cpu = treeCpu(pid).workerdMs;
  const started = performance.now();
  await post("/deliver", object, { from, step, count: DELIVERIES, prefix: `m-${from}` });
  return { wallMs: performance.now() - started, cpuMs: treeCpu(pid).workerdMs - cpu };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

try {
  const end = Date.now();
  console.error(`ingest: ${SMALL} against ${LARGE} actions inside the windows (spread over ${flags["span-minutes"]} min), ${DELIVERIES} measured deliveries x ${ROUNDS} rounds`);
  const results = {};
  for (const variant of ["unpruned", "pruned"]) {
    const large = `large-${variant}`;
    console.error(`filling ${LARGE} actions (${variant})...`);
    await fill(large, LARGE, end);
    if (variant === "pruned") await post("/prune", large);
    const rows = { small: [], large: [], smallCpu: [], largeCpu: [] };
    let largeFrom = end;
    for (let round = 0; round < ROUNDS; round++) {
      // A fresh small party each round, so it stays small.
      const small = `small-${variant}-${round}`;
      await fill(small, SMALL, end);
      if (variant === "pruned") await post("/prune", small);
      const s = await measure(small, SMALL, end + 1);
      const l = await measure(large, LARGE, largeFrom + 1);
      largeFrom += DELIVERIES * (SPAN_MS / LARGE);
      rows.small.push(s.wallMs / DELIVERIES);
      rows.large.push(l.wallMs / DELIVERIES);
      rows.smallCpu.push(s.cpuMs);
      rows.largeCpu.push(l.cpuMs);
    }
    const sizes = { small: await post("/size", `small-${variant}-${ROUNDS - 1}`), large: await post("/size", large) };
    results[variant] = {
      smallUs: median(rows.small) * 1000,
      largeUs: median(rows.large) * 1000,
      smallCpuUs: (rows.smallCpu.reduce((a, b) => a + b, 0) * 1000) / (DELIVERIES * ROUNDS),
      largeCpuUs: (rows.largeCpu.reduce((a, b) => a + b, 0) * 1000) / (DELIVERIES * ROUNDS),
      sizes,
    };
  }
  console.log(`\nBaton ingest: one delivery (one allowed action) with ${SMALL} against ${LARGE} actions inside the windows; bundled detectors; median of ${ROUNDS} rounds of ${DELIVERIES}\n`);
  console.log("index     wall µs/delivery (small / large, ratio)   workerd CPU µs/delivery (small / large, ratio)   rows stored (small / large)");
  for (const [variant, r] of Object.entries(results)) {
    console.log(
      `${variant.padEnd(8)}  ${r.smallUs.toFixed(0).padStart(6)} / ${r.largeUs.toFixed(0).padStart(6)}, ${(r.largeUs / r.smallUs).toFixed(2)}x` +
        `                     ${r.smallCpuUs.toFixed(0).padStart(6)} / ${r.largeCpuUs.toFixed(0).padStart(6)}, ${(r.largeCpuUs / r.smallCpuUs).toFixed(2)}x` +
        `                      ${r.sizes.small.activity} / ${r.sizes.large.activity}`,
    );
  }
  console.log("\nunpruned: every action filled is still stored; pruned: after the analyst's pruning (what no window needs is gone).");
} finally {
  killGroup(server.child);
  await new Promise((r) => setTimeout(r, 500));
  killGroup(server.child, "SIGKILL");
  rmSync(workdir, { recursive: true, force: true });
}
