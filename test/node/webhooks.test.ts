import { readFileSync } from "node:fs";
import { SignJWT, createRemoteJWKSet, importJWK, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { DEV_KEY } from "../verifier/baton-under-test.js";
import { startReceiver } from "./webhook-receiver.js";

// Black box: the `wrangler dev` of the global setup, configured with one webhook to the
// receiver below, which answers 500 to the first attempt of every event and then recovers.
const base = inject("batonUrl");
let receiver: Awaited<ReturnType<typeof startReceiver>>;

beforeAll(async () => {
  receiver = await startReceiver(inject("webhookPort"));
});
afterAll(() => receiver?.close());

async function call(method: string, path: string, key: string, body?: unknown) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

async function startSequence(workflow: string, params: Record<string, unknown>) {
  const started = await call("POST", "/v1/sequences", DEV_KEY.orchestrator, { workflow, params, subject: "user:alice", actor: "agent-7" });
  expect(started.status).toBe(201);
  return started.body.sequence as string;
}

async function escalate(seq: string) {
  const { "//": _c, ...jwk } = JSON.parse(readFileSync(new URL("../../examples/keys/expense-checker.private.jwk.json", import.meta.url), "utf8"));
  const attestation = await new SignJWT({
    iss: "expense-checker",
    seq,
    stage: "gather",
    type: "summary_complete",
    facts: { report: "R-1", total: 120 },
    iat: Math.floor(Date.now() / 1000),
    jti: crypto.randomUUID(),
  })
    .setProtectedHeader({ alg: "EdDSA", typ: "baton-attestation+jwt", kid: jwk.kid })
    .sign(await importJWK(jwk, "EdDSA"));
  const result = await call("POST", `/v1/sequences/${seq}/evidence`, DEV_KEY.agent, { attestation });
  expect(result.status).toBe(202);
}

async function revoke(seq: string) {
  expect((await call("POST", `/v1/sequences/${seq}/revoke`, DEV_KEY.orchestrator, { reason: "webhook test" })).status).toBe(200);
}

async function until(done: () => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out; got ${JSON.stringify(receiver.deliveries.map(({ jws: _j, ...d }) => d))}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("signed webhooks against a receiver that fails, then recovers", () => {
  it("every event arrives, verifies against the JWKS, in order per sequence; duplicates only under the same jti", { timeout: 90_000 }, async () => {
    const payment = await startSequence("reimbursement", { report: "R-1", employee: "alice", total: 120, currency: "EUR" });
    const deployment = await startSequence("deployment", { service: "checkout", version: "2.4.1" });
    await escalate(payment);
    await revoke(payment);
    await revoke(deployment);
    const expected = new Map([
      [`${payment}.1`, "escalated"],
      [`${payment}.2`, "revoked"],
      [`${deployment}.1`, "revoked"],
    ]);
    const ours = () => receiver.deliveries.filter((d) => d.seq === payment || d.seq === deployment);
    const acknowledged = () => new Set(ours().filter((d) => d.status === 200).map((d) => d.jti));
    // Each event fails once (a 2 s backoff) before it is taken: a few seconds per sequence.
    await until(() => [...expected.keys()].every((jti) => acknowledged().has(jti)), 60_000);

    const jwks = createRemoteJWKSet(new URL(`${base}/.well-known/jwks.json`));
    for (const d of ours()) {
      expect(d.type).toBe("application/jwt");
      const { payload, protectedHeader } = await jwtVerify(d.jws, jwks, { issuer: "http://localhost:8787", typ: "baton-event+jwt" });
      expect(protectedHeader.alg).toBe("EdDSA");
      // Nothing but the expected events, and the same jti always means the same event.
      expect(expected.get(d.jti)).toBe(payload.event);
      expect(payload).toMatchObject({ seq: d.seq, n: d.n, console_url: `http://localhost:8787/console/sequences/${d.seq}` });
      expect(typeof payload.receipt).toBe("string");
    }
    // The failed first attempt was retried: duplicates, each under its event's jti.
    for (const jti of expected.keys()) expect(ours().filter((d) => d.jti === jti).map((d) => d.status)).toEqual([500, 200]);
    // In order per sequence: no attempt of an event before every earlier event of its sequence was taken.
    for (const seq of [payment, deployment]) {
      const attempts = ours().filter((d) => d.seq === seq);
      const positions = [...expected.keys()].filter((jti) => jti.startsWith(`${seq}.`)).map((jti) => Number(jti.split(".")[1]));
      attempts.forEach((d, i) => {
        for (const earlier of positions.filter((m) => m < (d.n as number))) {
          expect(attempts.slice(0, i).some((e) => e.n === earlier && e.status === 200)).toBe(true);
        }
      });
    }
  });
});
