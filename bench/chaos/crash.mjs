#!/usr/bin/env node
// Crash harness: `wrangler dev` (fixed --persist-to and port) under load, killed with
// SIGKILL (its whole process group) every 300–1500 ms of uptime and restarted on the
// same state, --cycles times. The load (--concurrency flows at once) starts sequences
// and submits attestations with an Idempotency-Key, and redeems canary and rollout
// capabilities. Every request is recorded: acknowledged (status + body) or lost.
// Afterwards:
//  (a) every acknowledged receipt (body.receipt or body.error.receipt) is in its
//      sequence's exported chain, byte for byte;
//  (b) every chain verifies;
//  (c) re-presenting every capability with an acknowledged ALLOW never gives ALLOW
//      (and no chain has two ALLOW redeems of one nonce);
//  (d) every lost idempotent request, retried twice with the same key and body, gets
//      the same answer both times; a start names the same sequence; evidence advanced
//      the sequence exactly once.
// Exits 1 on any violation.
//   PATH=$PWD/node_modules/.bin:$PATH node bench/chaos/crash.mjs --cycles 20 --seed 1
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { decodeJwt } from "jose";
import { CANARY, KEY, ROLLOUT, START_BODY, call, canaryPassed, fetchChain, keyLookup, killGroup, pool, portFree, receiptOf, rng, sleep, startServer } from "./lib.mjs";

const { values } = parseArgs({
  options: {
    cycles: { type: "string", default: "20" },
    seed: { type: "string", default: String(Date.now() % 1_000_000) },
    concurrency: { type: "string", default: "16" },
    port: { type: "string", default: "8797" },
    "inspector-port": { type: "string", default: "8798" },
    "persist-to": { type: "string", default: join(tmpdir(), "baton-chaos-crash") },
    keep: { type: "boolean", default: false },
  },
});
const CYCLES = Number(values.cycles);
const SEED = Number(values.seed);
const CONCURRENCY = Number(values.concurrency);
const PORT = Number(values.port);
const INSPECTOR = Number(values["inspector-port"]);
const PERSIST = values["persist-to"];
const random = rng(SEED);

rmSync(PERSIST, { recursive: true, force: true });
let server = null;
process.on("exit", () => {
  if (server) killGroup(server.child, "SIGTERM");
  if (!values.keep) rmSync(PERSIST, { recursive: true, force: true });
});
process.on("SIGINT", () => process.exit(130));

// --- the server, and a gate the load waits on while it is down ---------------
let upGate = null; // null while up; a promise while down
let openGate = () => {};
const waitUp = async () => {
  while (upGate) await upGate;
};
const boot = async () => {
  for (let i = 0; !((await portFree(PORT)) && (await portFree(INSPECTOR))); i++) {
    if (i > 100) throw new Error(`port ${PORT} or ${INSPECTOR} still taken`);
    await sleep(100);
  }
  const t = performance.now();
  server = await startServer({ port: PORT, inspectorPort: INSPECTOR, persistTo: PERSIST });
  return performance.now() - t;
};

// --- every request, recorded --------------------------------------------------
const requests = [];
const base = `http://127.0.0.1:${PORT}`;
async function send(op, path, key, bodyText, idempotencyKey, extra = {}) {
  await waitUp();
  const record = { op, path, key, bodyText, idempotencyKey, ...extra };
  requests.push(record);
  try {
    const answer = await call(base, "POST", path, key, bodyText, idempotencyKey ? { "idempotency-key": idempotencyKey } : {});
    // wrangler dev's proxy answers this itself when the Worker was reloaded mid-request
    // (e.g. a source file changed): Baton's answer was lost, not given.
    if (answer.status === 503 && answer.text.startsWith("Your worker restarted mid-request")) {
      Object.assign(record, { outcome: "lost", error: "503 from wrangler's proxy: worker restarted mid-request" });
      return null;
    }
    Object.assign(record, { outcome: "ack", status: answer.status, body: answer.body, text: answer.text });
    return answer;
  } catch (e) {
    record.outcome = "lost";
    record.error = String(e?.cause?.code ?? e?.cause ?? e);
    return null;
  }
}

let flowCounter = 0;
let stopping = false;
async function flow() {
  const n = flowCounter++;
  const startKey = `chaos-${SEED}-start-${n}`;
  const started = await send("start", "/v1/sequences", KEY.orchestrator, JSON.stringify(START_BODY), startKey);
  if (started?.status !== 201) return;
  const { sequence: seq, capability: canary } = started.body;
  const redeemed = await send("redeem", "/v1/redeem", KEY.deployer, JSON.stringify({ token: canary, ...CANARY }), null, { seq, token: canary, grant: CANARY });
  if (redeemed?.body.decision !== "ALLOW") return;
  const evidenceBody = JSON.stringify({ attestation: await canaryPassed(seq) });
  const advanced = await send("evidence", `/v1/sequences/${seq}/evidence`, KEY.agent, evidenceBody, `chaos-${SEED}-evidence-${n}`, { seq });
  if (!advanced?.body.capability) return;
  await send("redeem", "/v1/redeem", KEY.deployer, JSON.stringify({ token: advanced.body.capability, ...ROLLOUT }), null, { seq, token: advanced.body.capability, grant: ROLLOUT });
}
const worker = async () => {
  while (!stopping) await flow();
};

// --- run: load, and kills ------------------------------------------------------
const restartMs = [await boot()];
const t0 = performance.now();
const workers = Array.from({ length: CONCURRENCY }, worker);
for (let cycle = 0; cycle < CYCLES; cycle++) {
  await sleep(300 + Math.floor(random() * 1201));
  upGate = new Promise((resolve) => (openGate = resolve));
  killGroup(server.child, "SIGKILL");
  restartMs.push(await boot());
  upGate = null;
  openGate();
}
await sleep(1000);
stopping = true;
await Promise.all(workers);
const loadSeconds = (performance.now() - t0) / 1000;

// --- checks --------------------------------------------------------------------
const lookup = await keyLookup(base);
const violations = [];
const chains = new Map(); // seq → {lines, verdict, claims}
const chainOf = async (seq) => {
  if (!chains.has(seq)) chains.set(seq, await fetchChain(base, seq, lookup));
  return chains.get(seq);
};
const acknowledged = requests.filter((r) => r.outcome === "ack");
const lost = requests.filter((r) => r.outcome === "lost");
const serverErrors = acknowledged.filter((r) => r.status >= 500);
for (const r of serverErrors) violations.push(`server error ${r.status} on ${r.op}: ${r.text.slice(0, 200)}`);

// (d) lost idempotent requests: retried twice with the same key and body.
let lostThenResolved = 0;
for (const r of lost.filter((x) => x.idempotencyKey)) {
  const headers = { "idempotency-key": r.idempotencyKey };
  const first = await call(base, "POST", r.path, r.key, r.bodyText, headers);
  const second = await call(base, "POST", r.path, r.key, r.bodyText, headers);
  r.retried = first;
  const problems = [];
  if (first.text !== second.text || first.status !== second.status) problems.push(`retries answered differently: ${first.status} ${first.text.slice(0, 120)} / ${second.status} ${second.text.slice(0, 120)}`);
  if (r.op === "start") {
    if (first.status !== 201 || !first.body.sequence) problems.push(`retried start → ${first.status} ${first.text.slice(0, 200)}`);
    else if (first.body.sequence !== second.body.sequence) problems.push("retried start named two sequences");
  } else {
    const { claims } = await chainOf(r.seq);
    const advancing = claims.filter((c) => c.kind === "evidence" && c.effects?.some((e) => e.type === "advance")).length;
    if (advancing !== 1) problems.push(`retried evidence: ${advancing} advancing evidence receipts in ${r.seq} (answer ${first.status} ${first.text.slice(0, 160)})`);
    chains.delete(r.seq); // its chain grew
  }
  if (problems.length === 0) lostThenResolved++;
  else violations.push(`lost ${r.op} ${r.idempotencyKey}: ${problems.join("; ")}`);
}

// Every sequence we know of: acknowledged or retried starts, and any receipt's seq.
const sequences = new Set();
for (const r of requests) {
  if (r.seq) sequences.add(r.seq);
  for (const body of [r.body, r.retried?.body]) {
    if (body?.sequence) sequences.add(body.sequence);
    const receipt = receiptOf(body);
    if (receipt) sequences.add(decodeJwt(receipt).seq);
  }
}

// (a) acknowledged receipts present byte for byte; (b) chains verify.
let acknowledgedReceipts = 0;
let receiptsLost = 0;
let chainsVerified = 0;
await pool([...sequences], 16, (seq) => chainOf(seq));
for (const r of acknowledged) {
  const receipt = receiptOf(r.body);
  if (!receipt) continue;
  acknowledgedReceipts++;
  const { lines } = await chainOf(decodeJwt(receipt).seq);
  if (!lines.includes(receipt)) {
    receiptsLost++;
    violations.push(`acknowledged ${r.op} receipt n=${decodeJwt(receipt).n} of ${decodeJwt(receipt).seq} missing from its chain`);
  }
}
for (const [seq, { verdict }] of chains) {
  if (verdict.ok) chainsVerified++;
  else violations.push(`chain ${seq} does not verify: ${verdict.reason} at ${verdict.n}`);
}

// (c) no second ALLOW: in the chains, and when re-presenting acknowledged ALLOWs now.
let doubleSpends = 0;
for (const [seq, { claims }] of chains) {
  const allows = new Map();
  for (const c of claims) if (c.kind === "redeem" && c.decision === "ALLOW") allows.set(c.nonce, (allows.get(c.nonce) ?? 0) + 1);
  for (const [nonce, count] of allows) {
    if (count > 1) {
      doubleSpends += count - 1;
      violations.push(`chain ${seq}: nonce ${nonce} allowed ${count} times`);
    }
  }
}
const allowed = acknowledged.filter((r) => r.op === "redeem" && r.body?.decision === "ALLOW");
let represented = 0;
await pool(allowed, 16, async (r) => {
  const again = await call(base, "POST", "/v1/redeem", KEY.deployer, { token: r.token, ...r.grant });
  represented++;
  if (again.body?.decision === "ALLOW") {
    doubleSpends++;
    violations.push(`capability of ${r.seq} allowed again on re-presentation`);
  }
});

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`\ncrash chaos: wrangler dev SIGKILLed under load (seed ${SEED}, ${CONCURRENCY} flows at once, ${loadSeconds.toFixed(1)} s)`);
console.log(`cycles:                       ${CYCLES} (restart median ${(median(restartMs) / 1000).toFixed(1)} s)`);
console.log(`requests:                     ${requests.length} (start ${requests.filter((r) => r.op === "start").length}, redeem ${requests.filter((r) => r.op === "redeem").length}, evidence ${requests.filter((r) => r.op === "evidence").length})`);
console.log(`acknowledged:                 ${acknowledged.length} (with receipt ${acknowledgedReceipts}; 5xx ${serverErrors.length})`);
console.log(`lost:                         ${lost.length} (idempotent ${lost.filter((r) => r.idempotencyKey).length}, redeem ${lost.filter((r) => r.op === "redeem").length})`);
console.log(`lost-then-resolved:           ${lostThenResolved}/${lost.filter((r) => r.idempotencyKey).length}`);
console.log(`acknowledged receipts lost:   ${receiptsLost}`);
console.log(`double-spends:                ${doubleSpends} (ALLOWs re-presented: ${represented})`);
console.log(`chains verified:              ${chainsVerified}/${chains.size}`);
if (violations.length) console.log(`\nviolations (${violations.length}):\n  ${violations.slice(0, 20).join("\n  ")}`);
console.log(violations.length ? "VIOLATION" : "OK");
process.exit(violations.length ? 1 : 0);
