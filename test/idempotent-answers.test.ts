import { env, runInDurableObject } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { answerBody, answerStatus } from "../src/api/respond.js";
import { LedgerStore } from "../src/ledger/store.js";
import { KEY, PARAMS, attest, start } from "./helpers.js";

/** The exact bytes and status the Worker answers. */
async function raw(method: string, path: string, key: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await exports.default.fetch(`https://baton.test${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, text: await response.text() };
}

describe("idempotent retries are answered byte for byte as the first time", () => {
  it("start (201) and evidence that escalates (202): the retry renders the stored typed answer identically", async () => {
    const headers = { "idempotency-key": `typed-${crypto.randomUUID()}` };
    const body = { workflow: "reimbursement", params: PARAMS.reimbursement, subject: "user:alice", actor: "agent-7" };
    const first = await raw("POST", "/v1/sequences", KEY.orchestrator, body, headers);
    expect(first.status).toBe(201);
    expect(await raw("POST", "/v1/sequences", KEY.orchestrator, body, headers)).toEqual(first);

    const seq = JSON.parse(first.text).sequence as string;
    const facts = { report: PARAMS.reimbursement.report, total: PARAMS.reimbursement.total };
    const evidence = { attestation: await attest({ attester: "expense-checker", seq, stage: "gather", type: "summary_complete", facts }) };
    const escalated = await raw("POST", `/v1/sequences/${seq}/evidence`, KEY.agent, evidence, headers);
    expect(escalated.status).toBe(202);
    expect(await raw("POST", `/v1/sequences/${seq}/evidence`, KEY.agent, evidence, headers)).toEqual(escalated);
  });

  it("a refusal with its receipt is replayed identically too", async () => {
    const { seq } = await start("deployment");
    const headers = { "idempotency-key": `refused-${crypto.randomUUID()}` };
    const evidence = { attestation: await attest({ seq, stage: "canary", type: "canary_passed", facts: { ...PARAMS.deployment, error_rate: 0.5 } }) };
    const first = await raw("POST", `/v1/sequences/${seq}/evidence`, KEY.agent, evidence, headers);
    expect([first.status, JSON.parse(first.text).error.code]).toEqual([403, "CONDITION_FAILED"]);
    expect(await raw("POST", `/v1/sequences/${seq}/evidence`, KEY.agent, evidence, headers)).toEqual(first);
  });

  it("records written before answers were typed (HTTP status and rendered body) render as they were stored", async () => {
    const stub = env.SEQUENCES.get(env.SEQUENCES.idFromName(`legacy-idempotency-${crypto.randomUUID()}`));
    const legacy = [
      { status: 201, body: '{"decision":"ALLOW","code":null,"message":"started","sequence":"s","sealed":false,"receipt":"r","stage":"a","capability":"c","expires_at":5}' },
      { status: 202, body: '{"decision":"ESCALATE","code":"APPROVAL_REQUIRED","message":"waits","sequence":"s","sealed":false,"receipt":"r","details":{"remaining":1}}' },
      { status: 200, body: '{"decision":"ALLOW","code":null,"message":"current capability","sequence":"s","sealed":false,"capability":"c","expires_at":5,"receipt":null}' },
      { status: 403, body: '{"error":{"code":"CONDITION_FAILED","message":"no","receipt":"r","details":{"condition":"x"}}}' },
      { status: 422, body: '{"error":{"code":"IDEMPOTENCY_CONFLICT","message":"other","receipt":null}}' },
    ];
    await runInDurableObject(stub, async (_instance, state) => {
      const store = new LedgerStore(state.storage);
      for (const [i, row] of legacy.entries()) {
        state.storage.sql.exec("INSERT INTO idempotency (key, request_digest, status, body) VALUES (?, 'd', ?, ?)", `k${i}`, row.status, row.body);
        const found = store.idempotent(`k${i}`);
        if (!found) throw new Error(`record k${i} not found`);
        expect({ status: answerStatus(found.answer), body: JSON.stringify(answerBody(found.answer)) }).toEqual(row);
      }
    });
  });
});
