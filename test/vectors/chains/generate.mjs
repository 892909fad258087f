#!/usr/bin/env node
// Regenerates the golden receipt-chain vectors of this directory from a real Baton:
// `wrangler dev` with a fixed TEST-ONLY signing key, one deployment sequence with
// denials to its seal, then one tampered copy per attack. Run it only when the
// receipt format changes:  node test/vectors/chains/generate.mjs
// The Worker's tests, the audit library and the `baton audit` CLI all read the output.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { SignJWT, base64url, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK } from "jose";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, "..", "..", "..");
const keyset = JSON.parse(readFileSync(join(HERE, "signing-keys.test-only.json"), "utf8"));
const { "//": _c, ...trusted } = keyset;

const port = await new Promise((resolve) => {
  const s = createServer();
  s.listen(0, "127.0.0.1", () => {
    const { port } = s.address();
    s.close(() => resolve(port));
  });
});
const state = mkdtempSync(join(tmpdir(), "baton-vectors-"));
const envFile = join(state, ".env");
writeFileSync(envFile, `BATON_SIGNING_KEYS='${JSON.stringify(trusted)}'\n`);
const server = spawn("npx", ["wrangler", "dev", "--port", String(port), "--ip", "127.0.0.1", "--inspector-port", String(port + 1), "--persist-to", state, "--env-file", envFile], {
  cwd: ROOT,
  detached: true,
  stdio: "ignore",
  env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
});
const BASE = `http://127.0.0.1:${port}`;
const stop = () => {
  try {
    process.kill(-server.pid, "SIGTERM");
  } catch {}
  rmSync(state, { recursive: true, force: true });
};
process.on("exit", stop);
for (let i = 0; ; i++) {
  try {
    if ((await fetch(`${BASE}/.well-known/jwks.json`)).ok) break;
  } catch {}
  if (i > 300) throw new Error("wrangler dev did not start");
  await new Promise((r) => setTimeout(r, 300));
}

const call = async (method, path, key, body) => {
  const response = await fetch(`${BASE}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body && JSON.stringify(body),
  });
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
};
const params = { service: "checkout", version: "2.4.1" };
const monitor = JSON.parse(readFileSync(join(ROOT, "examples/keys/monitor.private.jwk.json"), "utf8"));
delete monitor["//"];
const attest = async (seq, facts) =>
  new SignJWT({ iss: "monitor", seq, stage: "canary", type: "canary_passed", facts })
    .setProtectedHeader({ alg: "EdDSA", typ: "baton-attestation+jwt", kid: monitor.kid })
    .setIssuedAt()
    .setJti(crypto.randomUUID())
    .sign(await importJWK(monitor, "EdDSA"));

async function deployment() {
  const started = await call("POST", "/v1/sequences", "dev-orchestrator-key", { workflow: "deployment", params, subject: "user:alice", actor: "agent-7" });
  const { sequence: seq, capability } = started;
  const canary = { ...params, percent: 5 };
  await call("POST", "/v1/redeem", "dev-tool-deployer-key", { token: capability, action: "deploy.rollout", args: params });
  await call("POST", "/v1/redeem", "dev-tool-deployer-key", { token: capability, action: "deploy.canary", args: { ...canary, percent: 50 } });
  // A tool's own offline refusal, reported to the gate (what the verifier's authorize() sends).
  await call("POST", "/v1/redeem", "dev-tool-deployer-key", {
    token: capability,
    action: "deploy.canary",
    args: { ...canary, percent: 20 },
    refused: { code: "CONDITION_FAILED", message: "condition is false: args.percent <= 10" },
  });
  await call("POST", "/v1/redeem", "dev-tool-deployer-key", { token: capability, action: "deploy.canary", args: canary });
  await call("POST", "/v1/redeem", "dev-tool-deployer-key", { token: capability, action: "deploy.canary", args: canary });
  const advanced = await call("POST", `/v1/sequences/${seq}/evidence`, "dev-agent-key", { attestation: await attest(seq, { ...params, error_rate: 0.001 }) });
  await call("POST", "/v1/redeem", "dev-tool-deployer-key", { token: advanced.capability, action: "deploy.rollout", args: params });
  const receipts = (await call("GET", `/v1/sequences/${seq}/receipts`, "dev-auditor-key")).trim().split("\n");
  const head = await call("GET", `/v1/sequences/${seq}`, "dev-auditor-key");
  return { seq, receipts, head };
}

const main = await deployment();
const other = await deployment();
const jwks = await call("GET", "/.well-known/jwks.json", "dev-auditor-key");
stop();

// Keys the JWKS does not trust: one with its own kid, one claiming the trusted kid.
const rogue = await generateKeyPair("EdDSA", { extractable: true });
const rogueJwk = { ...(await exportJWK(rogue.publicKey)), kid: "rogue-1", alg: "EdDSA", use: "sig" };
const resign = async (jws, edit, kid) => {
  const claims = JSON.parse(new TextDecoder().decode(base64url.decode(jws.split(".")[1])));
  edit(claims);
  const header = { ...decodeProtectedHeader(jws), kid };
  return new SignJWT(claims).setProtectedHeader(header).sign(rogue.privateKey);
};
const r = main.receipts;
const flipAt = r.findIndex((jws) => JSON.parse(new TextDecoder().decode(base64url.decode(jws.split(".")[1]))).decision === "DENY");
const payloadEdit = (jws) => {
  const [h, p, s] = jws.split(".");
  const claims = JSON.parse(new TextDecoder().decode(base64url.decode(p)));
  claims.message = `${claims.message}!`;
  return `${h}.${base64url.encode(JSON.stringify(claims))}.${s}`;
};
const flip = (claims) => {
  claims.decision = "ALLOW";
  claims.code = null;
};

const vectors = {
  "valid.txt": { receipts: r, expect: { valid: true } },
  "field-changed.txt": { receipts: r.map((x, i) => (i === 2 ? payloadEdit(x) : x)), expect: { valid: false, n: 2, reason: "signature" } },
  "receipt-deleted.txt": { receipts: r.filter((_, i) => i !== 2), expect: { valid: false, n: 2, reason: "n is 3" } },
  "receipts-swapped.txt": { receipts: r.map((x, i) => (i === 2 ? r[3] : i === 3 ? r[2] : x)), expect: { valid: false, n: 2, reason: "n is 3" } },
  "receipt-inserted.txt": { receipts: [...r.slice(0, 2), other.receipts[2], ...r.slice(2)], expect: { valid: false, n: 2, reason: "prev" } },
  "resigned-unknown-key.txt": { receipts: await Promise.all(r.map((x, i) => (i === 3 ? resign(x, () => {}, "rogue-1") : x))), expect: { valid: false, n: 3, reason: "unknown key id" } },
  "resigned-trusted-kid.txt": { receipts: await Promise.all(r.map((x, i) => (i === 3 ? resign(x, () => {}, trusted.active) : x))), expect: { valid: false, n: 3, reason: "signature" } },
  "tail-truncated.txt": { receipts: r.slice(0, -1), head: true, expect: { valid: false, n: r.length - 1, reason: "tail is missing" } },
  "decision-flipped.txt": { receipts: await Promise.all(r.map((x, i) => (i === flipAt ? resign(x, flip, "rogue-1") : x))), expect: { valid: false, n: flipAt, reason: "unknown key id" } },
  // The same flip signed by a key the auditor was (wrongly) given: only the replay can tell.
  "decision-flipped-trusted.txt": {
    receipts: await Promise.all(r.map((x, i) => (i === flipAt ? resign(x, flip, "rogue-1") : x))),
    jwks: "jwks-with-rogue.json",
    expect: { valid: false, n: flipAt, reason: "replay gives DENY" },
  },
};
// Re-chain after the trusted flip so only the replay, not the links, can catch it.
{
  const { receiptHash } = await import("../../../dist/tokens/receipt.js");
  const list = vectors["decision-flipped-trusted.txt"].receipts;
  for (let i = flipAt + 1; i < list.length; i++) {
    const prev = await receiptHash(list[i - 1]);
    list[i] = await resign(list[i], (claims) => {
      claims.prev = prev;
    }, "rogue-1");
  }
}
for (const [file, vector] of Object.entries(vectors)) writeFileSync(join(HERE, file), `${vector.receipts.join("\n")}\n`);
writeFileSync(join(HERE, "jwks.json"), `${JSON.stringify(jwks, null, 2)}\n`);
writeFileSync(join(HERE, "jwks-with-rogue.json"), `${JSON.stringify({ keys: [...jwks.keys, rogueJwk] }, null, 2)}\n`);
writeFileSync(join(HERE, "head.json"), `${JSON.stringify({ signed_head: main.head.signed_head }, null, 2)}\n`);
writeFileSync(
  join(HERE, "expected.json"),
  `${JSON.stringify(Object.fromEntries(Object.entries(vectors).map(([file, v]) => [file, { ...v.expect, jwks: v.jwks ?? "jwks.json", head: v.head ?? false }])), null, 2)}\n`,
);
console.log(`wrote ${Object.keys(vectors).length} chains of ${r.length} receipts (sequence ${main.seq})`);
process.exit(0);
