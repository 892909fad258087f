import { decodeJwt } from "jose";
import { describe, expect, it, vi } from "vitest";
import { BODY_MAX_BYTES } from "../src/limits.js";
import { KEY, PARAMS, api, attest, claimsOf, ledgerState, receipts, redeem, signedApproval, start, submitApproval, submitEvidence } from "./helpers.js";

/**
 * Every reason code of DESIGN.md that this issue can produce, each from a request
 * that should produce it, asserting the code, the HTTP status, and that the
 * sequence's state did not change (a denial consumes nothing).
 */
const canaryArgs = { ...PARAMS.deployment, percent: 5 };

async function expectDenied(
  seq: string,
  attempt: () => Promise<{ status: number; body: any }>,
  code: string,
  status: number,
  options: { receipted?: boolean } = {},
) {
  const before = await ledgerState(seq);
  const chainBefore = await receipts(seq);
  const result = await attempt();
  expect(result.body.error?.code, JSON.stringify(result.body)).toBe(code);
  expect(result.status).toBe(status);
  expect(await ledgerState(seq)).toEqual(before);
  const chainAfter = await receipts(seq);
  if (options.receipted ?? true) {
    // The denial is receipted (decision DENY, same code) and nothing else changed.
    expect(chainAfter).toHaveLength(chainBefore.length + 1);
    const receipt = claimsOf(chainAfter.at(-1) as string);
    expect(receipt.decision).toBe("DENY");
    expect(receipt.code).toBe(code);
    expect(receipt.effects).toEqual([]);
    expect(result.body.error.receipt).toBe(chainAfter.at(-1));
  } else {
    expect(chainAfter).toEqual(chainBefore);
  }
  return result;
}

describe("reason codes", () => {
  it("SEQUENCE_VIOLATION: a stage-1 token after the sequence moved to stage 2", async () => {
    const { seq, capability } = await start("deployment");
    await redeem(KEY.deployer, capability, "deploy.canary", canaryArgs);
    const passed = await attest({ seq, stage: "canary", type: "canary_passed", facts: { ...PARAMS.deployment, error_rate: 0 } });
    const advanced = await submitEvidence(seq, passed);
    expect(advanced.body.stage).toBe("rollout");
    const denied = await expectDenied(seq, () => redeem(KEY.deployer, capability, "deploy.canary", canaryArgs), "SEQUENCE_VIOLATION", 409);
    expect(denied.body.error.details).toEqual({ token_stage: "canary", current_stage: "rollout" });
  });

  it("SEQUENCE_VIOLATION: a stage-2 action with the stage-1 token skips a stage; an action no stage grants is SCOPE_EXCEEDED", async () => {
    const { seq, capability } = await start("deployment");
    // The stage-1 token does not carry stage-2 authority, even while stage 1 is current.
    const skipped = await expectDenied(seq, () => redeem(KEY.deployer, capability, "deploy.rollout", PARAMS.deployment), "SEQUENCE_VIOLATION", 409);
    expect(skipped.body.error.details).toEqual({ action: "deploy.rollout", tool: "deployer", granted_in: ["rollout"], current_stage: "canary" });
    await expectDenied(seq, () => redeem(KEY.deployer, capability, "deploy.delete", PARAMS.deployment), "SCOPE_EXCEEDED", 403);
  });

  it("a tool's report of its offline refusal is receipted as a DENY with that code, and spends nothing", async () => {
    const { seq, capability } = await start("deployment");
    const report = (action: string, args: Record<string, unknown>, code: string) =>
      api("POST", "/v1/redeem", { key: KEY.deployer, body: { token: capability, action, args, refused: { code, message: "refused offline" } } });
    // What the gate itself would allow (the tool's clock ahead, say): still a DENY with the tool's code.
    const disagreed = await expectDenied(seq, () => report("deploy.canary", canaryArgs, "TOKEN_EXPIRED"), "TOKEN_EXPIRED", 401);
    expect(disagreed.body.error.details).toEqual({ reported_by: "deployer", gate: "ALLOW" });
    const agreed = await expectDenied(seq, () => report("deploy.canary", { ...canaryArgs, percent: 50 }, "CONDITION_FAILED"), "CONDITION_FAILED", 403);
    expect(agreed.body.error.details).toMatchObject({ reported_by: "deployer", gate: "CONDITION_FAILED" });
    expect(claimsOf(agreed.body.error.receipt).inputs).toMatchObject({ kind: "redeem", refused: { code: "CONDITION_FAILED" } });
    // The capability is still unused: the real redeem goes through.
    expect((await redeem(KEY.deployer, capability, "deploy.canary", canaryArgs)).body.decision).toBe("ALLOW");
    // Only codes an offline check can produce may be reported.
    const invented = await report("deploy.canary", canaryArgs, "SEALED_SEQUENCE");
    expect([invented.status, invented.body.error.code]).toEqual([400, "INVALID_REQUEST"]);
  });

  it("SEQUENCE_VIOLATION: evidence for a stage that is not current", async () => {
    const { seq } = await start("deployment");
    const early = await attest({ seq, stage: "rollout", type: "canary_passed", facts: { ...PARAMS.deployment, error_rate: 0 } });
    await expectDenied(seq, () => submitEvidence(seq, early), "SEQUENCE_VIOLATION", 409);
  });

  it("REPLAY_NONCE: a single-use token presented twice", async () => {
    const { seq, capability } = await start("deployment");
    expect((await redeem(KEY.deployer, capability, "deploy.canary", canaryArgs)).status).toBe(200);
    await expectDenied(seq, () => redeem(KEY.deployer, capability, "deploy.canary", canaryArgs), "REPLAY_NONCE", 409);
  });

  it("REPLAY_NONCE: an attestation jti presented twice", async () => {
    const { seq } = await start("two-keys");
    const reviewed = await attest({ seq, stage: "prepare", type: "plan_reviewed", facts: { risk: 1 } });
    expect((await submitEvidence(seq, reviewed)).status).toBe(200);
    await expectDenied(seq, () => submitEvidence(seq, reviewed), "REPLAY_NONCE", 409);
  });

  it("SEALED_SEQUENCE: anything after the seal is refused, and the chain stays closed", async () => {
    const { seq, capability } = await start("deployment");
    const revoked = await api("POST", `/v1/sequences/${seq}/revoke`, { key: KEY.orchestrator, body: { reason: "test" } });
    expect(revoked.status).toBe(200);
    expect(revoked.body.sealed).toBe(true);
    // After the seal nothing is receipted: the chain's last receipt is the seal.
    await expectDenied(seq, () => redeem(KEY.deployer, capability, "deploy.canary", canaryArgs), "SEALED_SEQUENCE", 409, {
      receipted: false,
    });
    const passed = await attest({ seq, stage: "canary", type: "canary_passed", facts: { ...PARAMS.deployment, error_rate: 0 } });
    await expectDenied(seq, () => submitEvidence(seq, passed), "SEALED_SEQUENCE", 409, { receipted: false });
    await expectDenied(seq, () => api("POST", `/v1/sequences/${seq}/revoke`, { key: KEY.orchestrator }), "SEALED_SEQUENCE", 409, {
      receipted: false,
    });
    await expectDenied(seq, () => api("POST", `/v1/sequences/${seq}/capability`, { key: KEY.agent }), "SEALED_SEQUENCE", 409, {
      receipted: false,
    });
    const chain = await receipts(seq);
    expect(claimsOf(chain.at(-1) as string).kind).toBe("revoke");
  });

  it("EVIDENCE_INVALID: the gate does not take this type of attestation", async () => {
    const { seq } = await start("deployment");
    const wrongType = await attest({ seq, stage: "canary", type: "canary_started", facts: {} });
    await expectDenied(seq, () => submitEvidence(seq, wrongType), "EVIDENCE_INVALID", 403);
  });

  it("EVIDENCE_STALE: an attestation older than the gate's window", async () => {
    const { seq } = await start("deployment");
    const old = await attest({
      seq,
      stage: "canary",
      type: "canary_passed",
      facts: { ...PARAMS.deployment, error_rate: 0 },
      iat: Math.floor(Date.now() / 1000) - 3600,
    });
    await expectDenied(seq, () => submitEvidence(seq, old), "EVIDENCE_STALE", 403);
  });

  it("CONDITION_FAILED: an attestation for another version does not open the gate", async () => {
    const { seq } = await start("deployment");
    const otherVersion = await attest({
      seq,
      stage: "canary",
      type: "canary_passed",
      facts: { service: "checkout", version: "2.4.0", error_rate: 0 },
    });
    await expectDenied(seq, () => submitEvidence(seq, otherVersion), "CONDITION_FAILED", 403);
  });

  it("CONDITION_FAILED: arguments outside the grant's where, and an erroring condition denies", async () => {
    const { seq, capability } = await start("deployment");
    await expectDenied(seq, () => redeem(KEY.deployer, capability, "deploy.canary", { ...canaryArgs, percent: 50 }), "CONDITION_FAILED", 403);
    const erroring = await expectDenied(
      seq,
      () => redeem(KEY.deployer, capability, "deploy.canary", { service: "checkout", version: "2.4.1" }),
      "CONDITION_FAILED",
      403,
    );
    expect(erroring.body.error.details.reason).toBe("error");
  });

  it("SCOPE_EXCEEDED: uses exhausted on one grant while another still has uses", async () => {
    const { seq, capability } = await start("two-keys");
    expect((await redeem(KEY.deployer, capability, "deploy.plan", { plan: ["a"] })).status).toBe(200);
    const denied = await expectDenied(seq, () => redeem(KEY.deployer, capability, "deploy.plan", { plan: ["b"] }), "SCOPE_EXCEEDED", 403);
    expect(denied.body.error.details.remaining_uses).toBe(0);
    expect((await redeem(KEY.db, capability, "db.read", { rows: 10 })).status).toBe(200);
  });

  it("SIGNAL_REQUIRED: a grant that requires an active signal the actor does not have", async () => {
    // A fresh actor: no signal of any detector can exist for it.
    const actor = `agent-${crypto.randomUUID().slice(0, 8)}`;
    const { seq, capability } = await start("signal-required", { body: { actor } });
    const denied = await expectDenied(seq, () => redeem(KEY.ci, capability, "ci.run"), "SIGNAL_REQUIRED", 403);
    expect(denied.body.error).toMatchObject({ message: "requires an active signal of novelty.new-action", details: { missing: ["novelty.new-action"] } });
    // The gate recorded that it consulted the signals (none), so the replay sees the same.
    expect(claimsOf(denied.body.error.receipt).inputs).toMatchObject({ kind: "redeem", signals: [] });
  });

  it("TOKEN_EXPIRED: a capability past its exp (no skew in this workflow)", async () => {
    // The clock is the test's (a fake Date, which the Worker and its Durable Objects share with
    // the test in workerd): moved a second past the 1 s capability's exp instead of sleeping.
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      const { seq, capability } = await start("short-lived");
      vi.setSystemTime((decodeJwt(capability).exp as number) * 1000 + 1000);
      await expectDenied(seq, () => redeem(KEY.deployer, capability, "ticket.work"), "TOKEN_EXPIRED", 401);
    } finally {
      vi.useRealTimers();
    }
  });

  it("AUDIENCE_MISMATCH: a token presented to the wrong tool", async () => {
    const { seq, capability } = await start("deployment");
    await expectDenied(seq, () => redeem(KEY.db, capability, "deploy.canary", canaryArgs), "AUDIENCE_MISMATCH", 403);
  });

  it("TOKEN_INVALID: a capability whose signature does not verify is refused unreceipted", async () => {
    const { seq, capability } = await start("deployment");
    const [h, p, s] = capability.split(".") as [string, string, string];
    const flipped = `${h}.${p}.${s.slice(0, -2)}${s.endsWith("AA") ? "BA" : "AA"}`;
    await expectDenied(seq, () => redeem(KEY.deployer, flipped, "deploy.canary", canaryArgs), "TOKEN_INVALID", 401, { receipted: false });
  });

  it("UNAUTHENTICATED and FORBIDDEN: credentials and roles", async () => {
    const { seq, capability } = await start("deployment");
    await expectDenied(seq, () => redeem("not-a-key", capability, "deploy.canary", canaryArgs), "UNAUTHENTICATED", 401, { receipted: false });
    await expectDenied(seq, () => api("GET", `/v1/sequences/${seq}`), "UNAUTHENTICATED", 401, { receipted: false });
    // An agent is not a tool; another agent is not this sequence's actor; an auditor cannot revoke.
    await expectDenied(seq, () => redeem(KEY.agent, capability, "deploy.canary", canaryArgs), "FORBIDDEN", 403, { receipted: false });
    await expectDenied(seq, () => api("POST", `/v1/sequences/${seq}/capability`, { key: KEY.agent2 }), "FORBIDDEN", 403, { receipted: false });
    await expectDenied(seq, () => api("POST", `/v1/sequences/${seq}/revoke`, { key: KEY.auditor }), "FORBIDDEN", 403, { receipted: false });
    await expectDenied(seq, () => api("POST", `/v1/sequences/${seq}/revoke`, { key: KEY.limitedOrchestrator }), "FORBIDDEN", 403, {
      receipted: false,
    });
    const notAllowed = await api("POST", "/v1/sequences", {
      key: KEY.limitedOrchestrator,
      body: { workflow: "data-migration", params: PARAMS["data-migration"], subject: "user:alice", actor: "agent-7" },
    });
    expect(notAllowed.status).toBe(403);
    expect(notAllowed.body.error.code).toBe("FORBIDDEN");
  });

  it("UNKNOWN_WORKFLOW and UNKNOWN_SEQUENCE", async () => {
    const workflow = await api("POST", "/v1/sequences", {
      key: KEY.orchestrator,
      body: { workflow: "nope", params: {}, subject: "user:alice", actor: "agent-7" },
    });
    expect([workflow.status, workflow.body.error.code]).toEqual([404, "UNKNOWN_WORKFLOW"]);
    expect((await api("GET", "/v1/workflows/nope", { key: KEY.auditor })).body.error.code).toBe("UNKNOWN_WORKFLOW");
    // Well-formed ids that this namespace never minted, and ones it could mint but never started.
    const forged = await api("GET", `/v1/sequences/${"a".repeat(64)}`, { key: KEY.auditor });
    expect([forged.status, forged.body.error.code]).toEqual([404, "UNKNOWN_SEQUENCE"]);
    const { env } = await import("cloudflare:workers");
    const unused = env.SEQUENCES.newUniqueId().toString();
    const never = await api("GET", `/v1/sequences/${unused}`, { key: KEY.auditor });
    expect([never.status, never.body.error.code]).toEqual([404, "UNKNOWN_SEQUENCE"]);
  });

  it("an unsigned compact JWS (empty signature part) is a token or evidence that fails verification, not a bad request", async () => {
    const { seq, capability } = await start("deployment");
    const unsigned = (jws: string) => `${jws.split(".").slice(0, 2).join(".")}.`;
    // A capability: TOKEN_INVALID, unreceipted like every capability whose signature does not verify.
    const token = await expectDenied(seq, () => redeem(KEY.deployer, unsigned(capability), "deploy.canary", canaryArgs), "TOKEN_INVALID", 401, { receipted: false });
    expect(token.body.error.message).toMatch(/unsigned/);
    // An attestation: EVIDENCE_INVALID, receipted like every refused presentation of evidence.
    const passed = await attest({ seq, stage: "canary", type: "canary_passed", facts: { ...PARAMS.deployment, error_rate: 0 } });
    await expectDenied(seq, () => submitEvidence(seq, unsigned(passed)), "EVIDENCE_INVALID", 403);
    // The same with alg none in the header.
    const [, payload] = passed.split(".") as [string, string];
    const none = `${btoa(JSON.stringify({ alg: "none", typ: "baton-attestation+jwt", kid: "monitor-dev-1" })).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_")}.${payload}.`;
    await expectDenied(seq, () => submitEvidence(seq, none), "EVIDENCE_INVALID", 403);
  });

  it("an unsigned approval is EVIDENCE_INVALID, receipted", async () => {
    const { seq } = await start("reimbursement");
    const facts = { report: PARAMS.reimbursement.report, total: PARAMS.reimbursement.total };
    const summary = await attest({ attester: "expense-checker", seq, stage: "gather", type: "summary_complete", facts });
    expect((await submitEvidence(seq, summary)).status).toBe(202);
    const approval = await signedApproval(seq, "fran");
    await expectDenied(seq, () => submitApproval(seq, `${approval.split(".").slice(0, 2).join(".")}.`), "EVIDENCE_INVALID", 403);
  });

  it("INVALID_REQUEST: bad bodies and parameters change nothing", async () => {
    const { seq, capability } = await start("deployment");
    await expectDenied(seq, () => api("POST", "/v1/redeem", { key: KEY.deployer, body: { token: capability } }), "INVALID_REQUEST", 400, {
      receipted: false,
    });
    await expectDenied(
      seq,
      () => api("POST", `/v1/sequences/${seq}/evidence`, { key: KEY.agent, body: { attestation: "not a jws" } }),
      "INVALID_REQUEST",
      400,
      { receipted: false },
    );
    const badParams = await api("POST", "/v1/sequences", {
      key: KEY.orchestrator,
      body: { workflow: "deployment", params: { service: "checkout" }, subject: "user:alice", actor: "agent-7" },
    });
    expect([badParams.status, badParams.body.error.code]).toEqual([400, "INVALID_REQUEST"]);
    expect(JSON.stringify(badParams.body.error.details)).toContain("version");
    const notJson = await api("POST", "/v1/redeem", { key: KEY.deployer, raw: "{", headers: { "content-type": "application/json" } });
    expect([notJson.status, notJson.body.error.code]).toEqual([400, "INVALID_REQUEST"]);
  });

  it("PAYLOAD_TOO_LARGE: refused before parsing, with or without Content-Length", async () => {
    const { seq } = await start("deployment");
    const big = JSON.stringify({ attestation: "a".repeat(BODY_MAX_BYTES) });
    await expectDenied(
      seq,
      () => api("POST", `/v1/sequences/${seq}/evidence`, { key: KEY.agent, raw: big, headers: { "content-type": "application/json" } }),
      "PAYLOAD_TOO_LARGE",
      413,
      { receipted: false },
    );
    const chunks = new ReadableStream<Uint8Array>({
      start(controller) {
        const piece = new TextEncoder().encode("a".repeat(16 * 1024));
        for (let i = 0; i < 8; i++) controller.enqueue(piece);
        controller.close();
      },
    });
    const streamed = await api("POST", "/v1/redeem", { key: KEY.deployer, raw: chunks, headers: { "content-type": "application/json" } });
    expect([streamed.status, streamed.body.error.code]).toEqual([413, "PAYLOAD_TOO_LARGE"]);
  });

  it("IDEMPOTENCY_CONFLICT: one key, two different bodies", async () => {
    const headers = { "idempotency-key": `conflict-${crypto.randomUUID()}` };
    const first = await api("POST", "/v1/sequences", {
      key: KEY.orchestrator,
      headers,
      body: { workflow: "deployment", params: PARAMS.deployment, subject: "user:alice", actor: "agent-7" },
    });
    expect(first.status).toBe(201);
    const before = await ledgerState(first.body.sequence);
    const second = await api("POST", "/v1/sequences", {
      key: KEY.orchestrator,
      headers,
      body: { workflow: "deployment", params: { service: "checkout", version: "9.9.9" }, subject: "user:alice", actor: "agent-7" },
    });
    expect([second.status, second.body.error.code]).toEqual([422, "IDEMPOTENCY_CONFLICT"]);
    expect(await ledgerState(first.body.sequence)).toEqual(before);
  });

  it("UNSUPPORTED_MEDIA_TYPE: a body sent without Content-Type, as text/plain or as curl's default form type is 415, never a 500", async () => {
    const { seq, capability } = await start("deployment");
    const redeemBody = JSON.stringify({ token: capability, action: "deploy.canary", args: canaryArgs });
    const mediaTypes: Record<string, string>[] = [
      {},
      { "content-type": "text/plain" },
      { "content-type": "application/x-www-form-urlencoded" },
      { "content-type": "multipart/form-data; boundary=x" },
    ];
    for (const headers of mediaTypes) {
      const result = await expectDenied(seq, () => api("POST", "/v1/redeem", { key: KEY.deployer, headers, raw: redeemBody }), "UNSUPPORTED_MEDIA_TYPE", 415, {
        receipted: false,
      });
      expect(result.body.error).toEqual({ code: "UNSUPPORTED_MEDIA_TYPE", message: expect.stringContaining("application/json"), receipt: null });
    }
    // On every route with a body, the optional one of revoke too; the sequence stays open.
    for (const path of ["/v1/sequences", `/v1/sequences/${seq}/evidence`, `/v1/sequences/${seq}/approvals`, `/v1/sequences/${seq}/revoke`]) {
      const result = await api("POST", path, { key: KEY.orchestrator, headers: { "content-type": "text/plain" }, raw: "{}" });
      expect([result.status, result.body.error.code], path).toEqual([415, "UNSUPPORTED_MEDIA_TYPE"]);
    }
    // Authentication still comes first: no credential is 401 whatever the body.
    const anonymous = await api("POST", "/v1/redeem", { headers: { "content-type": "text/plain" }, raw: redeemBody });
    expect([anonymous.status, anonymous.body.error.code]).toEqual([401, "UNAUTHENTICATED"]);
    // The same body as JSON is what the gate wanted.
    const allowed = await api("POST", "/v1/redeem", { key: KEY.deployer, headers: { "content-type": "application/json; charset=utf-8" }, raw: redeemBody });
    expect(allowed.status, JSON.stringify(allowed.body)).toBe(200);
  });

  it("NOT_FOUND: a path no route has is 404 NOT_FOUND, not INVALID_REQUEST (which a route's malformed parameter is)", async () => {
    for (const [method, path] of [
      ["GET", "/nope"],
      ["POST", "/v1/nope"],
      ["GET", "/v1/sequences/0000/receipts/extra"],
      ["POST", "/v1/redeem/"],
      ["GET", "/docs/README.md"],
    ] as const) {
      const result = await api(method, path, { key: KEY.auditor });
      expect(result.status, `${method} ${path}`).toBe(404);
      expect(result.body.error, `${method} ${path}`).toMatchObject({ code: "NOT_FOUND", receipt: null });
      expect(result.headers.get("allow")).toBeNull();
    }
    // The same malformed id one segment shorter reaches a route: its parameter fails the schema.
    for (const path of ["/v1/sequences/0000/receipts", "/v1/sequences/0000"]) {
      const result = await api("GET", path, { key: KEY.auditor });
      expect([result.status, result.body.error?.code], path).toEqual([400, "INVALID_REQUEST"]);
    }
  });

  it("METHOD_NOT_ALLOWED: a path that exists under other methods is 405 with Allow listing them", async () => {
    const { seq, capability } = await start("deployment");
    const cases: [string, string, string][] = [
      ["GET", "/v1/redeem", "POST"],
      ["PUT", "/v1/sequences", "GET, HEAD, POST"],
      ["DELETE", `/v1/sequences/${seq}`, "GET, HEAD"],
      ["GET", `/v1/sequences/${seq}/evidence`, "POST"],
      ["PATCH", "/openapi.json", "GET, HEAD"],
      ["POST", "/v1/signals", "GET, HEAD"],
      ["GET", "/v1/signals/s-1/clear", "POST"],
      ["OPTIONS", "/v1/outcomes", "POST"],
      ["HEAD", "/v1/redeem", "POST"],
    ];
    for (const [method, path, allow] of cases) {
      const result = await api(method, path, { key: KEY.orchestrator });
      expect(result.status, `${method} ${path}`).toBe(405);
      expect(result.headers.get("allow"), `${method} ${path}`).toBe(allow);
      // HEAD answers carry no body; the code is still in the status and Allow.
      if (method !== "HEAD") expect(result.body.error).toMatchObject({ code: "METHOD_NOT_ALLOWED", details: { allow: allow.split(", ") }, receipt: null });
    }
    // A refused method spends nothing: the capability still redeems.
    const redeemed = await redeem(KEY.deployer, capability, "deploy.canary", canaryArgs);
    expect(redeemed.status, JSON.stringify(redeemed.body)).toBe(200);
    expect(redeemed.body.decision).toBe("ALLOW");
  });
});
