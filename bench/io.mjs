#!/usr/bin/env node
// `npm run bench:io -- [--scenario redeem|bare] [--requests 300] [--local-observability on|off] [--age 2]`:
// what one request makes `wrangler dev` write, by file: page writes (pwrite64), fsyncs, file
// openings and deletions per request, grouped by the Durable Object class whose SQLite file it
// is (one file per object, plus each class's alarm metadata) and by kind (database, WAL,
// temporary). Counted with `strace` attached to the workerd processes over the measured
// requests only (after the preparation), so it needs `strace` (Debian: apt-get install strace)
// and the right to trace your own processes. Under `wrangler dev` every such call runs on the
// one thread that runs the Worker and all its objects: a request's writes and fsyncs cost
// throughput beyond its CPU time (`npm run bench` counts write calls per request too).
//
// `bare` is the floor of `npm run bench` (bench/bare/): one object, one row read and written.
// `--age S`: seconds between the preparation and the measured requests (default 2).
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { treePids } from "./cpu.mjs";
import { ROOT, freePort, killGroup, pool, sleep, startServer } from "./chaos/lib.mjs";
import { CANARY_ARGS, KEY, bareObjects, call, startSequences } from "./prepare.mjs";

const { values: flags } = parseArgs({
  options: {
    scenario: { type: "string", default: "redeem" },
    requests: { type: "string", default: "300" },
    "local-observability": { type: "string", default: "on" },
    age: { type: "string", default: "2" },
  },
});
const REQUESTS = Number(flags.requests);
const AGE_S = Number(flags.age);
if (!Number.isFinite(AGE_S) || AGE_S < 0) throw new Error("--age must be a number of seconds >= 0");
if (!Number.isInteger(REQUESTS) || REQUESTS < 10) throw new Error("--requests must be an integer >= 10");
if (!["redeem", "bare"].includes(flags.scenario)) throw new Error("--scenario must be redeem or bare");
if (!["on", "off"].includes(flags["local-observability"])) throw new Error("--local-observability must be on or off");
try {
  execFileSync("strace", ["-V"], { stdio: "ignore" });
} catch {
  console.error("bench:io needs strace (Debian: apt-get install strace)");
  process.exit(2);
}
process.env.X_LOCAL_OBSERVABILITY = flags["local-observability"] === "on" ? "true" : "false";

// A file's role, by its name: the first rule that matches. Defined above the top-level await
// below, which reports before the rest of the module is evaluated.
const KINDS = [
  [(file) => file.startsWith("etilqs_"), "temporary file"],
  [(file) => file.startsWith("metadata.sqlite") && file.endsWith("-wal"), "alarm metadata WAL"],
  [(file) => file.startsWith("metadata.sqlite"), "alarm metadata"],
  [(file) => file.endsWith("-wal"), "object WAL"],
  [(file) => file.endsWith("-shm"), "object shared memory"],
  [(file) => file.endsWith(".sqlite"), "object database"],
];

const workdir = mkdtempSync(join(tmpdir(), "baton-io-"));
const bare = flags.scenario === "bare";
const server = await startServer({
  port: await freePort(),
  inspectorPort: await freePort(),
  persistTo: join(workdir, "state"),
  ...(bare ? { cwd: join(ROOT, "bench", "bare"), readyPath: "/" } : {}),
});

/** Prepared requests, as `npm run bench` prepares them: a fresh sequence (or a created object) each. */
async function prepare(count) {
  if (bare) return (await bareObjects(server, count)).map((object) => () => call(server.base, "/", null, { object }));
  const sequences = await startSequences(server, count);
  return sequences.map(({ capability }) => () => call(server.base, "/v1/redeem", KEY.deployer, { token: capability, action: "deploy.canary", args: CANARY_ARGS }));
}

const trace = join(workdir, "strace.txt");
try {
  await pool(await prepare(50), 10, (f) => f()); // warm the isolate
  const requests = await prepare(REQUESTS);
  // The preparation's deferred deliveries; and an idle object is evicted after a while, so the
  // age of the objects when they are measured decides whether each request opens its object.
  await sleep(AGE_S * 1000);
  const pids = treePids(server.child.pid, "workerd");
  if (pids.length === 0) throw new Error("no workerd process under wrangler dev");
  const tracer = spawn("strace", ["-f", "-y", "-o", trace, "-e", "trace=pwrite64,fsync,fdatasync,openat,unlinkat", ...pids.flatMap((p) => ["-p", p])], { stdio: "ignore" });
  await sleep(1000); // attached
  const statuses = await pool(requests, 10, async (f) => (await f()).status);
  await sleep(1500); // what the requests left for right after them (outbox runs)
  tracer.kill("SIGINT");
  await new Promise((resolve) => tracer.on("exit", resolve));
  const failed = statuses.filter((s) => s >= 300).length;
  if (failed > 0) throw new Error(`${failed} of ${REQUESTS} requests failed`);
  report(readFileSync(trace, "utf8"));
} finally {
  killGroup(server.child);
  await sleep(500);
  killGroup(server.child, "SIGKILL");
  rmSync(workdir, { recursive: true, force: true });
}

/** Per-request counts by (call, owner, file kind), largest first. */
function report(text) {
  const counts = new Map();
  const add = (call, path, bytes) => {
    const key = `${call} ${where(path)}`;
    const entry = counts.get(key) ?? { calls: 0, bytes: 0 };
    entry.calls++;
    entry.bytes += bytes;
    counts.set(key, entry);
  };
  for (const line of text.split("\n")) {
    // pwrite64(fd<path>, "bytes"..., count, offset) = count; fsync(fd<path>) = 0
    const page = /pwrite64\(\d+<([^>]*)>, ".*"(?:\.\.\.)?, (\d+), \d+\)/.exec(line);
    if (page) {
      add("pwrite64", page[1], Number(page[2]));
      continue;
    }
    const synced = /(fsync|fdatasync)\(\d+<([^>]*)>\)/.exec(line);
    if (synced) {
      add(synced[1], synced[2], 0);
      continue;
    }
    const named = /(openat|unlinkat)\([^"]*"([^"]+)", [^)]*\) = \d+/.exec(line);
    if (named) add(named[1] === "openat" ? "open" : "unlink", named[2], 0);
  }
  const rows = [...counts.entries()].sort((a, b) => b[1].calls - a[1].calls);
  const per = (x) => (x / REQUESTS).toFixed(2).padStart(7);
  console.log(`bench:io ${flags.scenario}: ${REQUESTS} requests to objects prepared ${AGE_S} s before, wrangler dev's local trace collector ${flags["local-observability"]}; per request:`);
  console.log(`${"calls".padStart(7)} ${"KiB".padStart(7)}  call and file`);
  for (const [key, { calls, bytes }] of rows.filter(([, v]) => v.calls / REQUESTS >= 0.05)) console.log(`${per(calls)} ${per(bytes / 1024)}  ${key}`);
  const total = (call) => rows.filter(([k]) => k.startsWith(`${call} `)).reduce((s, [, v]) => s + v.calls, 0);
  console.log(`total per request: ${per(total("pwrite64")).trim()} page writes, ${per(total("fsync") + total("fdatasync")).trim()} fsyncs, ${per(total("open")).trim()} files opened, ${per(total("unlink")).trim()} deleted`);
}

/** "<owner> <kind>": the object class (its persistence directory) and the file's role. */
function where(path) {
  const parts = path.split("/");
  const file = parts.at(-1) ?? path;
  const owner = file.startsWith("etilqs_") ? "SQLite" : (parts.at(-2) ?? "?").replace(/^baton-/, "");
  return `${owner} ${KINDS.find(([matches]) => matches(file))?.[1] ?? file}`;
}
