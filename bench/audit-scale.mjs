#!/usr/bin/env node
// `npm run bench:audit`: one sequence with N receipts (default 10,000) under
// `wrangler dev`, exported (one compact JWS per line) through GET /v1/sequences/:id/receipts
// (streamed page by page), then verified and replayed by `baton audit verify`.
// Reports export time and size, verification time, and the CLI's peak memory next
// to the same for a chain a tenth as long (bounded memory: the two should be close).
//
//   npm run bench:audit [-- --receipts 10000]
import { spawn, spawnSync } from "node:child_process";
import { createWriteStream, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  options: { receipts: { type: "string", default: "10000" }, concurrency: { type: "string", default: "16" }, keep: { type: "boolean", default: false } },
});
const TARGET = Number(values.receipts);
const CONCURRENCY = Number(values.concurrency);

const port = await new Promise((resolve) => {
  const s = createServer();
  s.listen(0, "127.0.0.1", () => {
    const { port } = s.address();
    s.close(() => resolve(port));
  });
});
const work = mkdtempSync(join(tmpdir(), "baton-audit-bench-"));
const server = spawn("npx", ["wrangler", "dev", "--port", String(port), "--ip", "127.0.0.1", "--inspector-port", String(port + 1), "--persist-to", join(work, "state")], {
  cwd: ROOT,
  detached: true,
  stdio: "ignore",
  env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
});
const stop = () => {
  try {
    process.kill(-server.pid, "SIGTERM");
  } catch {}
};
process.on("exit", () => {
  stop();
  // --keep leaves the exports, heads and JWKS for profiling the CLI on them.
  if (values.keep) console.error(`exports kept in ${work}`);
  else rmSync(work, { recursive: true, force: true });
});
process.on("SIGINT", () => process.exit(130));
const BASE = `http://127.0.0.1:${port}`;
for (let i = 0; ; i++) {
  try {
    if ((await fetch(`${BASE}/.well-known/jwks.json`)).ok) break;
  } catch {}
  if (i > 400) throw new Error("wrangler dev did not start");
  await new Promise((r) => setTimeout(r, 300));
}

const post = (path, key, body) =>
  fetch(`${BASE}${path}`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify(body) }).then((r) => r.json());

/** A sequence with `count` receipts: the start, then receipted denials (an action the stage does not grant). */
async function sequenceWith(count) {
  const started = await post("/v1/sequences", "dev-orchestrator-key", { workflow: "deployment", params: { service: "checkout", version: "2.4.1" }, subject: "user:bench", actor: "agent-7" });
  let next = 1;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) {
        next++;
        const answer = await post("/v1/redeem", "dev-tool-deployer-key", { token: started.capability, action: "deploy.delete", args: {} });
        if (answer.error?.code !== "SCOPE_EXCEEDED") throw new Error(JSON.stringify(answer));
      }
    }),
  );
  return { seq: started.sequence, seconds: (performance.now() - t0) / 1000 };
}

async function exportChain(seq, file) {
  const t0 = performance.now();
  const response = await fetch(`${BASE}/v1/sequences/${seq}/receipts`, { headers: { authorization: "Bearer dev-auditor-key" } });
  await pipeline(Readable.fromWeb(response.body), createWriteStream(file));
  const head = await fetch(`${BASE}/v1/sequences/${seq}`, { headers: { authorization: "Bearer dev-auditor-key" } }).then((r) => r.text());
  writeFileSync(`${file}.head.json`, head);
  return { seconds: (performance.now() - t0) / 1000, bytes: statSync(file).size };
}

function verify(file) {
  const t0 = performance.now();
  // GNU time reports the CLI's peak resident memory. The CLI runs as its bin does (its shebang's node flags).
  const run = spawnSync("/usr/bin/time", ["-f", "%M", join(ROOT, "src/cli/baton.mjs"), "audit", "verify", file, "--jwks", join(work, "jwks.json"), "--workflows", join(ROOT, "examples/workflows"), "--head", `${file}.head.json`, "--json"], {
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
  });
  const seconds = (performance.now() - t0) / 1000;
  const verdict = JSON.parse(run.stdout);
  const peakKb = Number(run.stderr.trim().split("\n").at(-1));
  return { seconds, verdict, peakMb: peakKb / 1024, code: run.status };
}

writeFileSync(join(work, "jwks.json"), await fetch(`${BASE}/.well-known/jwks.json`).then((r) => r.text()));
const results = [];
for (const count of [Math.max(10, Math.round(TARGET / 10)), TARGET]) {
  const made = await sequenceWith(count);
  const file = join(work, `chain-${count}.txt`);
  const exported = await exportChain(made.seq, file);
  const verified = verify(file);
  if (verified.code !== 0 || !verified.verdict.valid || verified.verdict.receipts !== count) {
    console.error(JSON.stringify(verified.verdict.failure ?? verified.verdict));
    process.exit(1);
  }
  results.push({ count, made, exported, verified });
}
stop();
console.log("\naudit at scale: one sequence, receipted decisions exported (one compact JWS per line) and verified + replayed by `baton audit verify`\n");
console.log("receipts   make (req/s)   export s   export MB   verify+replay s   receipts/s   CLI peak RSS MB");
for (const r of results) {
  console.log(
    [
      String(r.count).padStart(8),
      `${(r.count / r.made.seconds).toFixed(0)}`.padStart(14),
      r.exported.seconds.toFixed(2).padStart(10),
      (r.exported.bytes / 1e6).toFixed(1).padStart(11),
      r.verified.seconds.toFixed(2).padStart(17),
      (r.count / r.verified.seconds).toFixed(0).padStart(12),
      r.verified.peakMb.toFixed(0).padStart(17),
    ].join(" "),
  );
}
process.exit(0);
