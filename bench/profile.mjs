#!/usr/bin/env node
// `npm run bench:profile -- [--scenario redeem|advance|approve] [--requests 2000]`: a CPU profile
// of Baton (the Worker and its Durable Objects share one isolate under wrangler dev) while it
// answers one scenario, taken through the workerd inspector (Chrome DevTools Protocol), with the
// functions that took the most self time. Writes bench/results/<ts>-<scenario>.cpuprofile
// (open it in Chrome DevTools' Performance panel).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import WebSocket from "ws";
import { ROOT, freePort, killGroup, pool, startServer } from "./chaos/lib.mjs";
import { CANARY_ARGS, KEY, PREP_CONCURRENCY, attestation, awaitingApproval, call, inPool, startSequences } from "./prepare.mjs";

const { values: flags } = parseArgs({
  options: { scenario: { type: "string", default: "redeem" }, requests: { type: "string", default: "2000" }, top: { type: "string", default: "30" } },
});
const REQUESTS = Number(flags.requests);

const workdir = mkdtempSync(join(tmpdir(), "baton-profile-"));
const [port, inspectorPort] = [await freePort(), await freePort()];
const server = await startServer({ port, inspectorPort, persistTo: join(workdir, "state") });
const base = server.base;

async function inspector() {
  // The inspector's target list names the Worker's isolate; the first one is the user Worker.
  const targets = await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json();
  const target = targets.find((t) => t.webSocketDebuggerUrl) ?? targets[0];
  // The `ws` client: wrangler's inspector proxy refuses the handshake of Node's built-in WebSocket.
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  let id = 0;
  const waiting = new Map();
  ws.on("message", (message) => {
    const data = JSON.parse(String(message));
    if (data.id && waiting.has(data.id)) {
      waiting.get(data.id)(data);
      waiting.delete(data.id);
    }
  });
  return {
    send: (method, params = {}) =>
      new Promise((resolve) => {
        const n = ++id;
        waiting.set(n, resolve);
        ws.send(JSON.stringify({ id: n, method, params }));
      }),
    close: () => ws.close(),
  };
}

/** The measured requests of each scenario, prepared as bench/run.mjs prepares them. */
const baton = { base };
const scenarios = {
  async redeem(count) {
    const sequences = await startSequences(baton, count);
    return sequences.map(({ capability }) => () => call(base, "/v1/redeem", KEY.deployer, { token: capability, action: "deploy.canary", args: CANARY_ARGS }));
  },
  async advance(count) {
    const sequences = await startSequences(baton, count);
    await inPool(count, PREP_CONCURRENCY, "redeem canaries", (i) =>
      call(base, "/v1/redeem", KEY.deployer, { token: sequences[i].capability, action: "deploy.canary", args: CANARY_ARGS }),
    );
    for (const s of sequences) s.attestation = await attestation(s.seq);
    return sequences.map(({ seq, attestation }) => () => call(base, `/v1/sequences/${seq}/evidence`, KEY.agent, { attestation }));
  },
  async approve(count) {
    const waiting = await awaitingApproval(baton, count);
    return waiting.map(({ seq, approval }) => () => call(base, `/v1/sequences/${seq}/approvals`, KEY.approver, { approval }));
  },
};

try {
  const make = scenarios[flags.scenario];
  if (!make) throw new Error(`unknown scenario ${flags.scenario}`);
  console.error(`preparing ${REQUESTS} ${flags.scenario} requests...`);
  const warm = await make(200);
  await pool(warm, 10, (f) => f());
  const requests = await make(REQUESTS);
  const cdp = await inspector();
  await cdp.send("Profiler.enable");
  await cdp.send("Profiler.setSamplingInterval", { interval: 200 });
  await cdp.send("Profiler.start");
  const started = performance.now();
  const statuses = await pool(requests, 10, async (f) => (await f()).status);
  const seconds = (performance.now() - started) / 1000;
  await new Promise((r) => setTimeout(r, 2000)); // the alarms the requests left behind
  const { result } = await cdp.send("Profiler.stop");
  cdp.close();
  const profile = result.profile;
  const bad = statuses.filter((s) => s >= 300).length;
  console.log(`${flags.scenario}: ${REQUESTS} requests in ${seconds.toFixed(1)} s (${(REQUESTS / seconds).toFixed(0)} req/s), ${bad} not 2xx`);

  // Self time per function (samples x interval), then per file.
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const counts = new Map();
  for (const id of profile.samples) counts.set(id, (counts.get(id) ?? 0) + 1);
  const deltas = profile.timeDeltas;
  const total = deltas.reduce((a, b) => a + b, 0);
  const selfUs = new Map();
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    const f = node.callFrame;
    const name = `${f.functionName || "(anonymous)"} ${f.url.split("/").slice(-2).join("/")}:${f.lineNumber + 1}`;
    selfUs.set(name, (selfUs.get(name) ?? 0) + (deltas[i + 1] ?? 0));
  });
  const rows = [...selfUs.entries()].sort((a, b) => b[1] - a[1]).slice(0, Number(flags.top));
  const idle = (selfUs.get("(idle) :0") ?? 0) + (selfUs.get("(program) :0") ?? 0);
  console.log(`profile: ${(total / 1000).toFixed(0)} ms sampled, ${((1 - idle / total) * 100).toFixed(0)}% not idle; self time per request:`);
  for (const [name, us] of rows) console.log(`  ${(us / REQUESTS).toFixed(1).padStart(8)} µs  ${((us / total) * 100).toFixed(1).padStart(5)}%  ${name}`);
  const dir = join(ROOT, "bench", "results");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${new Date().toISOString().replace(/[:.]/g, "-")}-${flags.scenario}.cpuprofile`);
  writeFileSync(file, JSON.stringify(profile));
  console.log(`profile written to ${file.slice(ROOT.length + 1)}`);
} finally {
  killGroup(server.child);
  await new Promise((r) => setTimeout(r, 500));
  killGroup(server.child, "SIGKILL");
  rmSync(workdir, { recursive: true, force: true });
}
