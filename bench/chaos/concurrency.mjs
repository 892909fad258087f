#!/usr/bin/env node
// Black-box double-spend hunt against its own `wrangler dev`:
//  1. one hot nonce: --hot presentations (default 10,000) of one single-use canary capability;
//  2. --sequences sequences (default 2,500), each canary presented twice, shuffled.
// At most --concurrency requests in flight. Every chain is exported and verified.
// Prints presentations, ALLOWs, double-spends; exits 1 unless double-spends are 0,
// every nonce was spent exactly once and every chain verifies.
//   PATH=$PWD/node_modules/.bin:$PATH node bench/chaos/concurrency.mjs
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { CANARY, KEY, START_BODY, call, fetchChain, freePort, jtiOf, keyLookup, killGroup, pool, shuffle, startServer } from "./lib.mjs";

const { values } = parseArgs({
  options: { log: { type: "string" }, hot: { type: "string", default: "10000" }, sequences: { type: "string", default: "2500" }, concurrency: { type: "string", default: "500" } },
});
const HOT = Number(values.hot);
const SEQUENCES = Number(values.sequences);
const CONCURRENCY = Number(values.concurrency);

const persistTo = mkdtempSync(join(tmpdir(), "baton-chaos-concurrency-"));
let server;
process.on("exit", () => {
  if (server) killGroup(server.child, "SIGTERM");
  rmSync(persistTo, { recursive: true, force: true });
});
process.on("SIGINT", () => process.exit(130));

server = await startServer({ port: await freePort(), inspectorPort: await freePort(), persistTo, logFile: values.log });
const { base } = server;
const lookup = await keyLookup(base);

const start = async () => {
  const answer = await call(base, "POST", "/v1/sequences", KEY.orchestrator, START_BODY);
  if (answer.status !== 201) throw new Error(`start: ${answer.status} ${answer.text}`);
  return { seq: answer.body.sequence, capability: answer.body.capability };
};
// reloads: wrangler dev's proxy answered 503 because the Worker was reloaded mid-request (a
// source file changed under it); such a request may or may not have been decided.
const tally = { presentations: 0, allow: 0, replay: 0, other: 0, networkErrors: 0, reloads: 0 };
const otherSamples = [];
const allowsByJti = new Map();
const present = async ({ capability }) => {
  tally.presentations++;
  try {
    const answer = await call(base, "POST", "/v1/redeem", KEY.deployer, { token: capability, ...CANARY });
    if (answer.status === 200 && answer.body.decision === "ALLOW") {
      tally.allow++;
      const jti = jtiOf(capability);
      allowsByJti.set(jti, (allowsByJti.get(jti) ?? 0) + 1);
    } else if (answer.status === 409 && answer.body.error?.code === "REPLAY_NONCE") tally.replay++;
    else if (answer.status === 503 && answer.text.startsWith("Your worker restarted mid-request")) tally.reloads++;
    else {
      tally.other++;
      if (otherSamples.length < 5) otherSamples.push(`${answer.status} ${answer.text.slice(0, 200)}`);
    }
  } catch (e) {
    tally.networkErrors++;
    if (otherSamples.length < 5) otherSamples.push(String(e?.cause ?? e));
  }
};

const t0 = performance.now();
const hot = await start();
await pool(
  Array.from({ length: HOT }, () => hot),
  CONCURRENCY,
  present,
);
const tHot = performance.now();
const afterHot = { ...tally };
const started = await pool(Array.from({ length: SEQUENCES }), 64, start);
const tStarted = performance.now();
await pool(shuffle(started.flatMap((s) => [s, s])), CONCURRENCY, present);
const tPairs = performance.now();

// Every chain: verifies, and spends its canary nonce exactly once.
let chainsVerified = 0;
let chainDoubleSpends = 0;
let chainAllows = 0;
const failures = [];
await pool([hot, ...started], 32, async ({ seq }) => {
  const { verdict, claims } = await fetchChain(base, seq, lookup);
  if (verdict.ok) chainsVerified++;
  else failures.push(`${seq}: ${verdict.reason} at ${verdict.n}`);
  const allows = claims.filter((c) => c.kind === "redeem" && c.decision === "ALLOW").length;
  chainAllows += allows;
  if (allows > 1) chainDoubleSpends += allows - 1;
});
const answerDoubleSpends = [...allowsByJti.values()].reduce((sum, n) => sum + Math.max(0, n - 1), 0);
const doubleSpends = Math.max(answerDoubleSpends, chainDoubleSpends);
const nonces = 1 + SEQUENCES;

console.log(`\nconcurrency chaos against wrangler dev (at most ${CONCURRENCY} in flight)`);
const phase = (t) => `ALLOW ${t.allow}, REPLAY_NONCE ${t.replay}, other ${t.other}, network errors ${t.networkErrors}, reload 503s ${t.reloads}`;
const minus = (a, b) => Object.fromEntries(Object.keys(a).map((k) => [k, a[k] - b[k]]));
console.log(`hot nonce:        ${HOT} presentations in ${((tHot - t0) / 1000).toFixed(1)} s (${phase(afterHot)})`);
console.log(`pairs:            ${SEQUENCES} starts in ${((tStarted - tHot) / 1000).toFixed(1)} s, 2 x ${SEQUENCES} presentations in ${((tPairs - tStarted) / 1000).toFixed(1)} s (${phase(minus(tally, afterHot))})`);
console.log(`presentations:    ${tally.presentations}`);
console.log(`ALLOWs:           ${tally.allow} (nonces: ${nonces}; ALLOW receipts in chains: ${chainAllows})`);
console.log(`REPLAY_NONCE:     ${tally.replay}`);
console.log(`other answers:    ${tally.other}, network errors: ${tally.networkErrors}${otherSamples.length ? `\n  e.g. ${otherSamples.join("\n  e.g. ")}` : ""}`);
console.log(`double-spends:    ${doubleSpends}`);
console.log(`chains verified:  ${chainsVerified}/${nonces}${failures.length ? `\n  ${failures.slice(0, 5).join("\n  ")}` : ""}`);

// Without a reload every nonce is spent exactly once; a reload (or a dropped connection)
// may lose an answer or a whole nonce's presentations, never add a second spend.
const interrupted = tally.reloads + tally.networkErrors > 0;
if (interrupted) console.log("note: the Worker was reloaded or connections dropped during the run (did a source file change?); exact counts not required");
const ok =
  doubleSpends === 0 &&
  chainsVerified === nonces &&
  tally.other === 0 &&
  (interrupted ? chainAllows <= nonces && tally.allow <= chainAllows : tally.allow === nonces && chainAllows === nonces && allowsByJti.size === nonces);
if (!ok) console.log(`\nwrangler dev log (tail):\n${server.log().slice(-3000)}`);
console.log(ok ? "OK" : "VIOLATION");
process.exit(ok ? 0 : 1);
