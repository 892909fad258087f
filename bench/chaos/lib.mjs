// Shared by bench/chaos/*.mjs: start/stop a `wrangler dev`, call Baton, sign
// attestations with the example monitor key, fetch and verify receipt chains.
import { spawn } from "node:child_process";
import { appendFileSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { SignJWT, decodeJwt, importJWK } from "jose";
import { verifyReceiptChain } from "../../dist/audit/index.js";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const KEY = {
  orchestrator: "dev-orchestrator-key",
  agent: "dev-agent-key",
  deployer: "dev-tool-deployer-key",
  auditor: "dev-auditor-key",
};
export const START_BODY = { workflow: "deployment", params: { service: "checkout", version: "2.4.1" }, subject: "user:alice", actor: "agent-7" };
export const CANARY = { action: "deploy.canary", args: { service: "checkout", version: "2.4.1", percent: 5 } };
export const ROLLOUT = { action: "deploy.rollout", args: { service: "checkout", version: "2.4.1" } };

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export const freePort = () =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

/** Resolves true when nothing listens on 127.0.0.1:port. */
export const portFree = (port) =>
  new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });

/** Spawns `wrangler dev` (Baton's, or the Worker in `cwd`) in its own process group; resolves once `readyPath` answers. */
export async function startServer({ port, inspectorPort, persistTo, logFile, timeoutMs = 120_000, cwd = ROOT, readyPath = "/.well-known/jwks.json" }) {
  const args = ["wrangler", "dev", "--port", String(port), "--ip", "127.0.0.1", "--inspector-port", String(inspectorPort), "--persist-to", persistTo, "--show-interactive-dev-session=false"];
  const child = spawn("npx", args, { cwd, detached: true, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, WRANGLER_SEND_METRICS: "false" } });
  let log = "";
  const onData = (d) => {
    log = (log + d).slice(-8000);
    if (logFile) appendFileSync(logFile, d);
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(`${base}${readyPath}`)).ok) return { child, base, log: () => log };
    } catch {}
    if (Date.now() > deadline || child.exitCode !== null) {
      killGroup(child, "SIGKILL");
      throw new Error(`wrangler dev did not start on ${port}:\n${log.slice(-4000)}`);
    }
    await sleep(200);
  }
}

export function killGroup(child, signal = "SIGTERM") {
  try {
    process.kill(-child.pid, signal);
  } catch {}
}

/** One HTTP call; never throws on HTTP status. Network errors throw. */
export async function call(base, method, path, key, body, headers = {}) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = { unparsed: text };
  }
  return { status: response.status, body: json, text };
}

const monitorJwk = (() => {
  const { "//": _c, ...jwk } = JSON.parse(readFileSync(join(ROOT, "examples/keys/monitor.private.jwk.json"), "utf8"));
  return jwk;
})();
const monitorKey = importJWK(monitorJwk, monitorJwk.alg);

export async function canaryPassed(seq) {
  return new SignJWT({ seq, stage: "canary", type: "canary_passed", facts: { service: "checkout", version: "2.4.1", error_rate: 0.001 } })
    .setProtectedHeader({ alg: monitorJwk.alg, typ: "baton-attestation+jwt", kid: monitorJwk.kid })
    .setIssuer("monitor")
    .setIssuedAt()
    .setJti(crypto.randomUUID())
    .sign(await monitorKey);
}

export async function keyLookup(base) {
  const { keys } = await (await fetch(`${base}/.well-known/jwks.json`)).json();
  const imported = new Map(await Promise.all(keys.map(async (k) => [k.kid, { key: await importJWK(k, "EdDSA"), alg: "EdDSA" }])));
  return (kid) => imported.get(kid);
}

/** The exported chain of a sequence: lines, the verdict, and the decoded claims. */
export async function fetchChain(base, seq, lookup) {
  const response = await fetch(`${base}/v1/sequences/${seq}/receipts`, { headers: { authorization: `Bearer ${KEY.auditor}` } });
  if (response.status !== 200) return { lines: [], verdict: { ok: false, reason: `HTTP ${response.status}` }, claims: [] };
  const lines = (await response.text()).split("\n").filter(Boolean);
  const verdict = await verifyReceiptChain(lines, lookup);
  return { lines, verdict, claims: lines.map((l) => decodeJwt(l)) };
}

export const receiptOf = (body) => body?.receipt ?? body?.error?.receipt ?? null;
export const seqOfReceipt = (jws) => decodeJwt(jws).seq;
export const jtiOf = (token) => decodeJwt(token).jti;

/** Runs fn over items with at most `limit` in flight. */
export async function pool(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i], i);
      }
    }),
  );
  return results;
}

/** Small seeded PRNG (mulberry32). */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffle(xs, random = Math.random) {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}
