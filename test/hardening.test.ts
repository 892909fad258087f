import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../src/api/app.js";
import { KEY, PARAMS, api, attest, ledgerState, redeem, start, submitEvidence } from "./helpers.js";

/** Every endpoint that changes state, with who may call it (by role). */
function mutatingEndpoints(seq: string, capability: string) {
  return [
    { name: "start", method: "POST", path: "/v1/sequences", body: { workflow: "deployment", params: PARAMS.deployment, subject: "user:alice", actor: "agent-7" }, allowed: ["orchestrator"] },
    { name: "evidence", method: "POST", path: `/v1/sequences/${seq}/evidence`, body: { attestation: capability }, allowed: ["orchestrator", "agent", "attester"] },
    { name: "approval", method: "POST", path: `/v1/sequences/${seq}/approvals`, body: { approval: capability }, allowed: ["orchestrator", "agent", "approver"] },
    { name: "capability", method: "POST", path: `/v1/sequences/${seq}/capability`, allowed: ["agent"] },
    { name: "delegation", method: "POST", path: `/v1/sequences/${seq}/delegations`, body: { token: capability, actor: "x", grants: [{ audience: "db", actions: ["db.read"], uses: 1 }] }, allowed: ["agent"] },
    { name: "revoke", method: "POST", path: `/v1/sequences/${seq}/revoke`, allowed: ["orchestrator"] },
    { name: "redeem", method: "POST", path: "/v1/redeem", body: { token: capability, action: "deploy.canary", args: {} }, allowed: ["tool"] },
    { name: "outcome", method: "POST", path: "/v1/outcomes", body: { receipt: capability, outcome: "succeeded" }, allowed: ["tool"] },
  ];
}

const ROLE_KEYS: Record<string, string> = {
  orchestrator: KEY.orchestrator,
  agent: KEY.agent,
  attester: KEY.attester,
  approver: KEY.approvals,
  tool: KEY.deployer,
  auditor: KEY.auditor,
};

describe("authentication and authorization of the API", () => {
  it("every mutating endpoint: no or a bad credential → 401 with one message; a wrong role → 403; the auditor never mutates", async () => {
    const { seq, capability } = await start("deployment");
    const before = await ledgerState(seq);
    const unauthenticated = new Set<string>();
    for (const endpoint of mutatingEndpoints(seq, capability)) {
      for (const key of [undefined, "Bearer not-a-key", `Basic ${KEY.orchestrator}`, `Bearer ${KEY.orchestrator}x`, "Bearer"]) {
        const headers: Record<string, string> = key === undefined ? {} : { authorization: key };
        const result = await api(endpoint.method, endpoint.path, { headers, ...(endpoint.body ? { body: endpoint.body } : {}) });
        expect(result.status, `${endpoint.name} with ${JSON.stringify(key)}`).toBe(401);
        expect(result.body.error.code).toBe("UNAUTHENTICATED");
        unauthenticated.add(result.body.error.message);
      }
      for (const [role, key] of Object.entries(ROLE_KEYS)) {
        if (endpoint.allowed.includes(role)) continue;
        const result = await api(endpoint.method, endpoint.path, { key, ...(endpoint.body ? { body: endpoint.body } : {}) });
        expect(result.status, `${endpoint.name} as ${role}`).toBe(403);
        expect(result.body.error.code).toBe("FORBIDDEN");
      }
    }
    // Which check failed (no header, malformed, unknown key) is not revealed beyond the code.
    expect(unauthenticated.size).toBe(1);
    expect(await ledgerState(seq)).toEqual(before);
  });

  it("enumerating sequence ids reveals nothing without a credential", async () => {
    const { seq } = await start("deployment");
    const unknown = "0".repeat(64);
    const answers = await Promise.all(
      [seq, unknown, "not-an-id"].flatMap((id) => [
        api("GET", `/v1/sequences/${id}`),
        api("GET", `/v1/sequences/${id}/receipts`),
        api("POST", `/v1/sequences/${id}/revoke`),
      ]),
    );
    for (const answer of answers) {
      expect(answer.status).toBe(401);
      expect(answer.body).toEqual(answers[0]?.body);
    }
  });

  it("an orchestrator starts only its workflows; a tool redeems only tokens addressed to it", async () => {
    const refused = await api("POST", "/v1/sequences", {
      key: KEY.limitedOrchestrator,
      body: { workflow: "data-migration", params: PARAMS["data-migration"], subject: "user:alice", actor: "agent-7" },
    });
    expect(refused.body.error.code).toBe("FORBIDDEN");
    const { capability } = await start("deployment");
    expect((await redeem(KEY.db, capability, "deploy.canary", { ...PARAMS.deployment, percent: 5 })).body.error.code).toBe("AUDIENCE_MISMATCH");
  });
});

describe("shape limits", () => {
  const deep = (depth: number) => {
    let value: unknown = 1;
    for (let i = 0; i < depth; i++) value = { a: value };
    return value;
  };

  it("arguments nested too deep or too wide are refused before any decision, and change nothing", async () => {
    const { seq, capability } = await start("deployment");
    const before = await ledgerState(seq);
    for (const args of [{ x: deep(100) }, { x: Array.from({ length: 2000 }, () => 0) }, Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, i]))]) {
      const result = await redeem(KEY.deployer, capability, "deploy.canary", args);
      expect(result.status).toBe(400);
      expect(result.body.error.code).toBe("INVALID_REQUEST");
    }
    // A depth bomb well inside the 64 KiB body limit.
    const bomb = `{"token":"${capability}","action":"deploy.canary","args":{"x":${"[".repeat(20_000)}${"]".repeat(20_000)}}}`;
    const raw = await api("POST", "/v1/redeem", { key: KEY.deployer, headers: { "content-type": "application/json" }, raw: bomb });
    expect(raw.body.error.code).toBe("INVALID_REQUEST");
    expect(await ledgerState(seq)).toEqual(before);
    const params = await api("POST", "/v1/sequences", {
      key: KEY.orchestrator,
      body: { workflow: "deployment", params: { service: deep(40) }, subject: "user:alice", actor: "agent-7" },
    });
    expect(params.body.error.code).toBe("INVALID_REQUEST");
  });

  it("a subject or actor is one line of printable text: a line break is INVALID_REQUEST, not a 500 of the analysis plane (found by the fuzz)", async () => {
    // The analysis plane keys its scopes on `actor:<name>` and refuses a line break there;
    // GET /v1/signals?actor=a%0Db answered 500, and such a sequence's receipts could never be delivered.
    for (const query of ["actor=a%0Db", "subject=a%0Ab", "actor=%E2%80%A8", "subject=%C2%85x"]) {
      const listed = await api("GET", `/v1/signals?${query}`, { key: KEY.operator });
      expect([listed.status, listed.body.error?.code], query).toEqual([400, "INVALID_REQUEST"]);
    }
    const cleared = await api("POST", "/v1/signals/s-1/clear", { key: KEY.operator, body: { actor: "agent\r7" } });
    expect([cleared.status, cleared.body.error?.code]).toEqual([400, "INVALID_REQUEST"]);
    for (const party of [{ actor: "agent-7\nagent-8" }, { subject: "user:alice\u0000" }]) {
      const started = await api("POST", "/v1/sequences", {
        key: KEY.orchestrator,
        body: { workflow: "deployment", params: PARAMS.deployment, subject: "user:alice", actor: "agent-7", ...party },
      });
      expect([started.status, started.body.error?.code], JSON.stringify(party)).toEqual([400, "INVALID_REQUEST"]);
    }
    // Names beyond ASCII stay welcome.
    const listed = await api("GET", `/v1/signals?subject=${encodeURIComponent("user:zoë 😀")}`, { key: KEY.operator });
    expect(listed.status, JSON.stringify(listed.body)).toBe(200);
  });

  it("attestation facts of a hostile shape are not evidence", async () => {
    const { seq } = await start("deployment");
    const bloated = await attest({ seq, stage: "canary", type: "canary_passed", facts: { nested: deep(50) } });
    const result = await submitEvidence(seq, bloated);
    expect(result.body.error).toMatchObject({ code: "EVIDENCE_INVALID", message: expect.stringMatching(/nested deeper/) });
  });
});

describe("error hygiene", () => {
  it("an unexpected failure is a 500 with a request id and nothing else; the id is in every answer", async () => {
    const app = createApp();
    app.get("/v1/boom", () => {
      throw new Error("secret detail: db password is hunter2");
    });
    const response = await app.request("/v1/boom", { headers: { authorization: `Bearer ${KEY.auditor}` } }, env);
    const text = await response.text();
    expect(response.status).toBe(500);
    const body = JSON.parse(text);
    expect(body.error).toMatchObject({ code: "INTERNAL", message: "internal error", details: { request_id: response.headers.get("x-request-id") } });
    expect(text).not.toMatch(/hunter2|secret|at \/|\.ts:\d+/);
    const ok = await api("GET", "/.well-known/jwks.json");
    expect(ok.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("the docs page serves only its own two files: anything else of the package is NOT_FOUND, not a 500", async () => {
    for (const file of ["swagger-ui-bundle.js.map", "index.html", "README.md", "..%2Fpackage.json"]) {
      const response = await createApp().request(`/docs/${file}`, {}, env);
      expect(response.status).toBe(404);
      expect(((await response.json()) as { error: unknown }).error).toMatchObject({ code: "NOT_FOUND" });
    }
    const css = await createApp().request("/docs/swagger-ui.css", {}, env);
    expect([css.status, css.headers.get("content-type")]).toEqual([200, "text/css; charset=utf-8"]);
  });

  it("a body that is not JSON says so, without parser internals", async () => {
    const result = await api("POST", "/v1/redeem", { key: KEY.deployer, headers: { "content-type": "application/json" }, raw: "{not json" });
    expect(result.status).toBe(400);
    expect(result.body.error).toEqual({ code: "INVALID_REQUEST", message: "body is not valid JSON", receipt: null });
  });
});
