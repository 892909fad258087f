#!/usr/bin/env node
// The packages as their users get them: `npm pack` each one (its prepack builds dist/), install
// the tarballs into a fresh project outside the repository, and run that project's tool servers
// against a running Baton:
//   (a) a node:http and a Hono tool server authorize a capability, on this Node and on Node 22;
//   (b) a Worker tool server under `wrangler dev` does the same;
//   (c) the MCP guard, called by the official SDK's client;
//   (d) `npx baton audit verify` on an export (and a tampered copy), `baton inspect`, `baton approver`,
//       `baton lint` and `baton scaffold`;
//   and the declarations type-check in the user's project (tsc, strict).
//
//   node test/packages/run.mjs            starts its own `wrangler dev` on a free port
//   BATON_URL=http://localhost:8787 node test/packages/run.mjs     uses a running Baton
//
// Prints each tarball's size; fails if the verifier's packs to 100 kB or more.
import { execFileSync, spawn } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const pinned = { ...manifest.dependencies, ...manifest.devDependencies };
/** The Node 22 binary of the `node` dev dependency (wrangler needs it; the checks run on it too). */
const node22 = join(root, "node_modules/.bin/node");
const VERIFIER_MAX_PACKED = 100_000;
const t0 = Date.now();
const since = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
const tmp = mkdtempSync(join(tmpdir(), "baton-packages-"));
const children = [];
const env = { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1", npm_config_update_notifier: "false" };

function cleanup() {
  for (const child of children) {
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {
      // already gone
    }
  }
  rmSync(tmp, { recursive: true, force: true });
}
process.on("exit", cleanup);
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => process.exit(130));

function run(command, args, options = {}) {
  try {
    return execFileSync(command, args, { encoding: "utf8", env, stdio: ["ignore", "pipe", "pipe"], ...options });
  } catch (error) {
    if (options.allowFail) return error;
    process.stderr.write(`${command} ${args.join(" ")} failed (exit ${error.status}):\n${error.stdout ?? ""}${error.stderr ?? ""}\n`);
    process.exit(1);
  }
}

/** Like run, without blocking: resolves to stdout, exits the run with the output on failure. */
function runAsync(command, args, options = {}) {
  return new Promise((resolveRun) => {
    const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"], ...options });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (status) => {
      if (status === 0) return resolveRun(stdout);
      process.stderr.write(`${command} ${args.join(" ")} failed (exit ${status}):\n${stdout}${stderr}\n`);
      process.exit(1);
    });
  });
}

function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
    server.on("error", reject);
  });
}

/** `wrangler dev` (the repository's, on Node 22) in its own process group, with its own state and ports. */
async function wranglerDev(args, ready) {
  const port = await freePort();
  const child = spawn(
    node22,
    [join(root, "node_modules/wrangler/bin/wrangler.js"), "dev", ...args, "--port", String(port), "--ip", "127.0.0.1", "--inspector-port", String(await freePort()), "--persist-to", mkdtempSync(join(tmp, "state-")), "--show-interactive-dev-session=false"],
    { cwd: root, detached: true, stdio: ["ignore", "pipe", "pipe"], env },
  );
  children.push(child);
  let log = "";
  child.stdout.on("data", (d) => (log += d));
  child.stderr.on("data", (d) => (log += d));
  const url = `http://127.0.0.1:${port}`;
  return async function waitUntilUp() {
    const deadline = Date.now() + 90_000;
    for (;;) {
      try {
        if (await ready(url)) return url;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`wrangler dev ${args.join(" ")} did not start:\n${log.slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 300));
    }
  };
}

const seqOf = (output) => /seq (\S+)/.exec(output)?.[1];

// 1. Pack, the three at once (each prepack runs tsc).
const packed = {};
const packs = await Promise.all(["verifier", "client", "cli"].map((name) => runAsync("npm", ["pack", "--json", "--pack-destination", tmp, join(root, "packages", name)])));
for (const [i, name] of ["verifier", "client", "cli"].entries()) {
  const out = packs[i];
  const [info] = JSON.parse(out.slice(out.indexOf("[")));
  packed[name] = join(tmp, info.filename);
  console.log(`packed ${info.name}@${info.version}: ${(info.size / 1000).toFixed(1)} kB packed, ${(info.unpackedSize / 1000).toFixed(1)} kB unpacked, ${info.entryCount} files`);
  if (name === "verifier" && info.size >= VERIFIER_MAX_PACKED) {
    console.error(`the verifier packs to ${info.size} bytes: more than ${VERIFIER_MAX_PACKED}`);
    process.exit(1);
  }
}
console.log(`[${since()}] packed`);

// 2. A fresh project outside the repository; the tarballs plus what its servers use.
const project = join(tmp, "tool-server");
cpSync(join(root, "test/packages/project"), project, { recursive: true });
cpSync(join(root, "examples/workflows"), join(project, "workflows"), { recursive: true });
writeFileSync(join(project, "package.json"), JSON.stringify({ name: "tool-server", private: true, type: "module" }, null, 2));
run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", ...Object.values(packed), `hono@${pinned.hono}`, `@hono/node-server@${pinned["@hono/node-server"]}`, `@modelcontextprotocol/sdk@${pinned["@modelcontextprotocol/sdk"]}`], { cwd: project });
console.log(`[${since()}] installed the tarballs into a fresh project (${project.replace(tmp, "$TMP")})`);

// The declarations, in the user's project: tsc in the background while the servers run.
const typesChecked = runAsync(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", join(project, "tsconfig.json")], { cwd: project });

// 3. The Baton to talk to, and the Worker tool server, both booting while the Node checks run.
let batonUrl = process.env.BATON_URL;
const batonUp = batonUrl ? null : await wranglerDev([], async (url) => (await fetch(`${url}/.well-known/jwks.json`)).ok);
if (batonUp) batonUrl = await batonUp();
const workerUp = await wranglerDev(
  ["--config", join(project, "worker/wrangler.toml"), "--var", "BATON_ISSUER:http://localhost:8787", "--var", `BATON_URL:${batonUrl}`, "--var", "BATON_TOOL_KEY:dev-tool-deployer-key"],
  async (url) => (await fetch(`${url}/deploy/canary`, { method: "POST" })).status === 401,
);
const projectEnv = { ...env, BATON_URL: batonUrl };
console.log(`[${since()}] Baton at ${batonUrl}${process.env.BATON_URL ? "" : " (started here)"}`);

// (a) on the machine's Node (the one running npm, under `npm run`, whose PATH puts Node 22 first) and on Node 22.
const machineNode = process.env.npm_node_execPath ?? process.execPath;
const nodes = [machineNode, node22];
const versions = nodes.map((bin) => run(bin, ["--version"]).trim());
if (!versions[1].startsWith("v22.")) throw new Error(`expected Node 22 at ${node22}, got ${versions[1]}`);
for (const bin of nodes) process.stdout.write(run(bin, ["node-tools.mjs"], { cwd: project, env: projectEnv }));
// (c)
const mcp = run(machineNode, ["mcp.mjs"], { cwd: project, env: projectEnv });
process.stdout.write(mcp);
// (b)
const workerUrl = await workerUp();
process.stdout.write(run(machineNode, ["worker-check.mjs"], { cwd: project, env: { ...projectEnv, WORKER_URL: workerUrl } }));
console.log(`[${since()}] tool servers: node:http and Hono on ${versions.join(" and ")}, a Worker, an MCP server`);

// (d) The auditor: export the MCP check's chain and verify it offline with the installed CLI.
const seq = seqOf(mcp);
const get = async (path, key) => {
  const response = await fetch(`${batonUrl}${path}`, { headers: key ? { authorization: `Bearer ${key}` } : {} });
  if (!response.ok) throw new Error(`GET ${path}: ${response.status} ${await response.text()}`);
  return response.text();
};
const chain = await get(`/v1/sequences/${seq}/receipts`, "dev-auditor-key");
writeFileSync(join(project, "chain.jsonl"), chain);
writeFileSync(join(project, "head.json"), await get(`/v1/sequences/${seq}`, "dev-auditor-key"));
writeFileSync(join(project, "jwks.json"), await get("/.well-known/jwks.json"));
const lines = chain.trim().split("\n");
writeFileSync(join(project, "truncated.jsonl"), `${lines.filter((_, i) => i !== 1).join("\n")}\n`);
const verify = (file) => run("npx", ["--no-install", "baton", "audit", "verify", file, "--jwks", "jwks.json", "--workflows", "workflows", "--head", "head.json"], { cwd: project, allowFail: true });
const valid = verify("chain.jsonl");
const validOut = typeof valid === "string" ? valid : `${valid.stdout}${valid.stderr}`;
if (typeof valid !== "string" || !/^VALID: /m.test(validOut)) throw new Error(`baton audit verify on the export:\n${validOut}`);
const tampered = verify("truncated.jsonl");
if (typeof tampered === "string" || tampered.status !== 1 || !/INVALID/.test(tampered.stdout)) throw new Error(`baton audit verify accepted a chain with a receipt removed:\n${tampered.stdout ?? tampered}`);
const receipt = lines[0];
if (!/kind\s+receipt/.test(run("npx", ["--no-install", "baton", "inspect", receipt, "--jwks", "jwks.json"], { cwd: project }))) throw new Error("baton inspect did not name a receipt");
run("npx", ["--no-install", "baton", "approver", "keygen", "--id", "carol", "--out", "carol.private.jwk.json"], { cwd: project });
JSON.parse(readFileSync(join(project, "carol.private.jwk.json"), "utf8"));
console.log(`npx baton audit verify (${lines.length} receipts): ${validOut.trim().split("\n").at(-1)}`);
console.log(`npx baton audit verify with receipt 1 removed: exit 1, ${tampered.stdout.trim().split("\n").at(-1)}`);
console.log("npx baton inspect: a receipt, verified; npx baton approver keygen: a key pair");
// The workflow author: the examples lint without errors under their configuration, and a
// saved tools/list scaffolds a workflow that does too.
writeFileSync(join(project, "config.json"), JSON.stringify({ ...JSON.parse(readFileSync(join(root, "examples/dev-config.json"), "utf8")), workflows: [] }));
run("npx", ["--no-install", "baton", "lint", "workflows", "--config", "config.json"], { cwd: project });
run("npx", ["--no-install", "baton", "scaffold", "--from-mcp", join(root, "test/fixtures/mcp/payments-tools.json"), "--out", "scaffolded.json"], { cwd: project });
run("npx", ["--no-install", "baton", "lint", "scaffolded.json", "--config", "config.json"], { cwd: project });
console.log("npx baton lint: the example workflows, no errors; npx baton scaffold: a skeleton that lints clean");

await typesChecked;
console.log(`[${since()}] types: the packages' declarations type-check in the project (tsc, strict; @ts-expect-error proves they are not any)`);
console.log(`packages: ok (${since()})`);
process.exit(0); // the wrangler dev children (stopped on exit) would keep the event loop alive
