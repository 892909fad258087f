import { describe, expect, inject, it } from "vitest";
import { DEV_KEY } from "../verifier/baton-under-test.js";

// Black box: an AuthZEN PEP in front of the deployer tool talks to the `wrangler dev` of the
// global setup over HTTP, finding the PDP the way the spec says (§9), with nothing but fetch.
const base = inject("batonUrl");

async function post(url: string, key: string, body: unknown, requestId?: string) {
  const response = await fetch(url, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...(requestId ? { "x-request-id": requestId } : {}) },
    body: JSON.stringify(body),
  });
  return { status: response.status, requestId: response.headers.get("x-request-id"), body: (await response.json()) as Record<string, any> };
}

describe("AuthZEN against wrangler dev", () => {
  it("discovers the PDP, is permitted once, and the replay is denied with the receipt", async () => {
    const metadata = (await (await fetch(`${base}/.well-known/authzen-configuration`)).json()) as Record<string, string>;
    expect(metadata.policy_decision_point).toBe(base);
    const started = await post(`${base}/v1/sequences`, DEV_KEY.orchestrator, {
      workflow: "deployment",
      params: { service: "checkout", version: "2.4.1" },
      subject: "user:alice",
      actor: "agent-7",
    });
    expect(started.status).toBe(201);
    const evaluation = {
      subject: { type: "agent", id: "agent-7" },
      action: { name: "deploy.canary" },
      resource: { type: "tool", id: "deployer", properties: { service: "checkout", version: "2.4.1", percent: 5 } },
      context: { capability: started.body.capability },
    };
    const id = crypto.randomUUID();
    const permitted = await post(metadata.access_evaluation_endpoint as string, DEV_KEY.deployer, evaluation, id);
    expect([permitted.status, permitted.requestId, permitted.body.decision]).toEqual([200, id, true]);
    const replayed = await post(metadata.access_evaluations_endpoint as string, DEV_KEY.deployer, { ...evaluation, evaluations: [{}] });
    expect(replayed.status).toBe(200);
    expect(replayed.body.evaluations).toEqual([
      { decision: false, context: { code: "REPLAY_NONCE", reason: "capability has no uses left", receipt: expect.stringMatching(/^eyJ/) } },
    ]);
    const chain = await fetch(`${base}/v1/sequences/${started.body.sequence}/receipts`, { headers: { authorization: `Bearer ${DEV_KEY.auditor}` } });
    expect((await chain.text()).trim().split("\n").slice(-2)).toEqual([permitted.body.context.receipt, replayed.body.evaluations[0].context.receipt]);
  });
});
