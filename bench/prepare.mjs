// Shared by the benchmarks that drive Baton over HTTP (run.mjs, profile.mjs, soak.mjs): the
// development credentials, and the single-use items each scenario consumes, prepared with plain
// fetch (not measured).
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { SignJWT, importJWK } from "jose";
import { signApproval } from "../src/cli/approval-lib.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
// Preparing tokens runs this many requests at a time (not measured).
export const PREP_CONCURRENCY = 10;

// The example deployment's development credentials (examples/dev-credentials.json).
export const KEY = {
  orchestrator: "dev-orchestrator-key",
  agent: "dev-agent-key",
  deployer: "dev-tool-deployer-key",
  approver: "dev-approver-key",
};
export const REIMBURSEMENT = { report: "R-bench", employee: "alice", total: 500, currency: "EUR" };
export const PARAMS = { service: "checkout", version: "2.4.1" };
export const CANARY_ARGS = { ...PARAMS, percent: 5 };

export async function call(base, path, key, body) {
  const headers = { "content-type": "application/json" };
  if (key) headers.authorization = `Bearer ${key}`;
  const response = await fetch(`${base}${path}`, { method: "POST", headers, body: JSON.stringify(body) });
  const text = await response.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // reported below as text
  }
  return { status: response.status, json, text };
}

/** Runs task(i) for i in [0, count), `concurrency` at a time; results in order. */
export async function inPool(count, concurrency, label, task) {
  const results = new Array(count);
  let next = 0;
  let done = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < count) {
      const i = next++;
      results[i] = await task(i);
      done++;
      if (process.stderr.isTTY && done % 100 === 0) process.stderr.write(`\r  ${label}: ${done}/${count}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  if (process.stderr.isTTY) process.stderr.write("\r\x1b[K");
  console.error(`  ${label}: ${count} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return results;
}

export function expectAnswer(what, result, status, check) {
  if (result.status !== status || !check(result.json ?? {})) {
    throw new Error(`${what}: expected ${status}, got ${result.status} ${result.text.slice(0, 500)}`);
  }
}

/** `count` bare objects, each created (touched once) beforehand, as redeem's sequences are started. */
export function bareObjects(bare, count) {
  const prefix = `bench-${randomUUID()}`;
  return inPool(count, PREP_CONCURRENCY, "create objects", async (i) => {
    const object = `${prefix}-${i}`;
    const result = await call(bare.base, "/", null, { object });
    expectAnswer("bare touch", result, 200, (b) => b.n === 1);
    return object;
  });
}

export async function startSequences(baton, count) {
  return inPool(count, PREP_CONCURRENCY, "start sequences", async () => {
    const result = await call(baton.base, "/v1/sequences", KEY.orchestrator, {
      workflow: "deployment",
      params: PARAMS,
      subject: "user:bench",
      actor: "agent-7",
    });
    expectAnswer("POST /v1/sequences", result, 201, (b) => typeof b.capability === "string" && b.stage === "canary");
    return { seq: result.json.sequence, capability: result.json.capability };
  });
}

/** Reimbursements waiting only on a finance manager: started, summary attested (ESCALATE), approval signed by fran. */
export async function awaitingApproval(baton, count) {
  const checker = await exampleKey(join("examples", "keys", "expense-checker.private.jwk.json"));
  const fran = JSON.parse(readFileSync(join(ROOT, "examples", "keys", "approvers", "fran.private.jwk.json"), "utf8"));
  return inPool(count, PREP_CONCURRENCY, "start, attest, sign approvals", async () => {
    const started = await call(baton.base, "/v1/sequences", KEY.orchestrator, {
      workflow: "reimbursement",
      params: REIMBURSEMENT,
      subject: "user:bench",
      actor: "agent-7",
    });
    expectAnswer("POST /v1/sequences", started, 201, (b) => b.stage === "gather");
    const seq = started.json.sequence;
    const summary = await new SignJWT({ iss: "expense-checker", seq, stage: "gather", type: "summary_complete", facts: { report: "R-bench", total: 500 } })
      .setProtectedHeader({ alg: "EdDSA", typ: "baton-attestation+jwt", kid: checker.kid })
      .setIssuedAt()
      .setJti(randomUUID())
      .sign(checker.key);
    const escalated = await call(baton.base, `/v1/sequences/${seq}/evidence`, KEY.agent, { attestation: summary });
    expectAnswer("summary attestation", escalated, 202, (b) => b.code === "APPROVAL_REQUIRED");
    const described = await fetch(`${baton.base}/v1/sequences/${seq}`, { headers: { authorization: `Bearer ${KEY.approver}` } });
    const subject = (await described.json()).next_gate.approvals.subject;
    return { seq, approval: await signApproval({ privateJwk: fran, approver: "fran", subject }) };
  });
}

export async function exampleKey(path) {
  const { "//": _comment, ...jwk } = JSON.parse(readFileSync(join(ROOT, path), "utf8"));
  return { kid: jwk.kid, key: await importJWK(jwk, "EdDSA") };
}

let monitorKey;
export async function attestation(seq) {
  if (!monitorKey) {
    const file = join(ROOT, "examples", "keys", "monitor.private.jwk.json");
    const { "//": _comment, ...jwk } = JSON.parse(readFileSync(file, "utf8"));
    monitorKey = { kid: jwk.kid, key: await importJWK(jwk, "EdDSA") };
  }
  return new SignJWT({
    iss: "monitor",
    seq,
    stage: "canary",
    type: "canary_passed",
    facts: { ...PARAMS, error_rate: 0.001 },
    iat: Math.floor(Date.now() / 1000),
    jti: randomUUID(),
  })
    .setProtectedHeader({ alg: "EdDSA", typ: "baton-attestation+jwt", kid: monitorKey.kid })
    .sign(monitorKey.key);
}
