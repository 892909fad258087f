import { env } from "cloudflare:workers";
import { SignJWT, decodeJwt, exportJWK, generateKeyPair, importJWK } from "jose";
import { describe, expect, it, vi } from "vitest";
import { AUTHZEN_MAX_EVALUATIONS, BODY_MAX_BYTES } from "../src/limits.js";
import { createDpopProof } from "../src/tokens/dpop.js";
import { TYP } from "../src/tokens/kinds.js";
import SPEC from "./fixtures/authzen/spec-examples.json";
import batonTestKeys from "./fixtures/signing-keys.test-only.json";
import { KEY, PARAMS, api, claimsOf, ledgerState, receipts, redeem, reportOutcome, start } from "./helpers.js";

/**
 * OpenID AuthZEN 1.0 at the gate: the specification's own examples (fixtures/authzen), every
 * reason code the gate can give as an AuthZEN decision, the batch semantics, and the requests
 * that must be refused whole. A deny must change nothing but the chain (one DENY receipt).
 */

type Json = Record<string, any>;
const EVALUATION = "/access/v1/evaluation";
const EVALUATIONS = "/access/v1/evaluations";
const canaryArgs = { ...PARAMS.deployment, percent: 5 };

function ask(path: string, body: unknown, key: string = KEY.deployer, headers?: Record<string, string>) {
  return api(path === EVALUATION || path === EVALUATIONS ? "POST" : "GET", path, { key, body, headers });
}

/** A deployment canary step as an AuthZEN request: the agent, the action, the tool with the arguments, the capability. */
function canary(capability: string, overrides: { subject?: string; action?: string; tool?: string; args?: Json; context?: Json } = {}) {
  return {
    subject: { type: "agent", id: overrides.subject ?? "agent-7" },
    action: { name: overrides.action ?? "deploy.canary" },
    resource: { type: "tool", id: overrides.tool ?? "deployer", properties: overrides.args ?? canaryArgs },
    context: { capability, ...overrides.context },
  };
}

/**
 * A spec example in Baton's terms (as the fixture's note says): the user is the actor agent-7,
 * every resource is the tool db with db.read's arguments — within the grant's `rows <= limit`
 * except for documents "2" and "subject-search.md", which stand for the denied ones — can_read
 * and read are db.read, can_edit is db.write (which no stage grants), and the capability joins
 * the context. Members Baton ignores (time, action.properties) stay as the spec wrote them.
 */
const ROWS: Record<string, number> = { "123": 1, "1": 10, "2": 1000, "3": 30, "boxcarring.md": 10, "subject-search.md": 1000, "resource-search.md": 30 };
const ACTIONS: Record<string, string> = { can_read: "db.read", read: "db.read", can_edit: "db.write" };

function adapt(example: Json, capability: string, top = true): Json {
  const out: Json = { ...example };
  if (example.subject) out.subject = { ...example.subject, type: "agent", id: "agent-7" };
  if (example.action) out.action = { ...example.action, name: ACTIONS[example.action.name] };
  if (example.resource) out.resource = { type: "tool", id: "db", properties: { rows: ROWS[example.resource.id] } };
  if (example.context) out.context = { ...example.context, capability };
  if (example.evaluations) {
    out.evaluations = example.evaluations.map((entry: Json) => adapt(entry, capability, false));
    // Entries without a context of their own take the top level's, which then carries the capability.
    if (!example.context && example.evaluations.some((entry: Json) => !entry.context)) out.context = { capability };
  } else if (top && !example.context) out.context = { capability };
  return out;
}

async function startTwoKeys() {
  return start("two-keys");
}

/** db.read's use counter of a two-keys sequence. */
async function dbReads(seq: string): Promise<number> {
  const state = await ledgerState(seq);
  return state.uses.find((u: Json) => u.actions.includes("db.read")).used;
}

/**
 * A refusal as an AuthZEN decision: 200, `decision: false`, the code and the receipt in
 * `context`; the sequence unchanged; the chain one DENY longer with that code (or unchanged
 * where the gate receipts nothing).
 */
async function expectDeny(seq: string, attempt: () => Promise<{ status: number; body: any }>, code: string, receipted = true) {
  const before = await ledgerState(seq);
  const chain = await receipts(seq);
  const result = await attempt();
  expect(result.status, JSON.stringify(result.body)).toBe(200);
  expect(result.body.decision).toBe(false);
  expect(result.body.context.code).toBe(code);
  expect(typeof result.body.context.reason).toBe("string");
  expect(await ledgerState(seq)).toEqual(before);
  const after = await receipts(seq);
  if (receipted) {
    expect(after).toHaveLength(chain.length + 1);
    expect(claimsOf(after.at(-1) as string)).toMatchObject({ kind: "redeem", decision: "DENY", code, effects: [] });
    expect(result.body.context.receipt).toBe(after.at(-1));
  } else {
    expect(after).toEqual(chain);
    expect(result.body.context.receipt).toBeNull();
  }
  return result.body;
}

/** A request refused whole (an HTTP error in the one envelope) that changes nothing. */
async function expectRefused(seq: string, attempt: () => Promise<{ status: number; body: any }>, code: string, status: number) {
  const before = await ledgerState(seq);
  const chain = await receipts(seq);
  const result = await attempt();
  expect([result.status, result.body.error?.code], JSON.stringify(result.body)).toEqual([status, code]);
  expect(await ledgerState(seq)).toEqual(before);
  expect(await receipts(seq)).toEqual(chain);
  return result.body;
}

describe("AuthZEN discovery", () => {
  it("publishes the PDP metadata the spec's example shows, listed in Baton's metadata and the OpenAPI document", async () => {
    const metadata = await ask("/.well-known/authzen-configuration", undefined);
    expect(metadata.status).toBe(200);
    expect(metadata.headers.get("content-type")).toMatch(/^application\/json/);
    // §9.2.2's example with this PDP's identifier; the search APIs are not offered, so their members are absent.
    const example = SPEC.configuration.response;
    expect(Object.keys(metadata.body).sort()).toEqual(["access_evaluation_endpoint", "access_evaluations_endpoint", "policy_decision_point"]);
    expect(metadata.body.policy_decision_point).toBe("https://baton.test");
    expect(metadata.body.access_evaluation_endpoint).toBe(example.access_evaluation_endpoint.replace("https://pdp.example.com", "https://baton.test"));
    expect(metadata.body.access_evaluations_endpoint).toBe("https://baton.test/access/v1/evaluations");

    const baton = await ask("/.well-known/baton-configuration", undefined);
    expect(baton.body).toMatchObject({
      authzen_configuration_uri: "https://baton.test/.well-known/authzen-configuration",
      access_evaluation_endpoint: metadata.body.access_evaluation_endpoint,
      access_evaluations_endpoint: metadata.body.access_evaluations_endpoint,
    });
    const doc = await ask("/openapi.json", undefined);
    for (const path of [EVALUATION, EVALUATIONS]) expect(doc.body.paths[path].post.requestBody.content["application/json"].schema).toBeTruthy();
    expect(doc.body.paths["/.well-known/authzen-configuration"].get).toBeTruthy();
  });
});

describe("the specification's examples", () => {
  it("§6.1 and §10.1.4: a permitted evaluation is the redeem, and the PEP's X-Request-ID comes back", async () => {
    const { seq, capability } = await startTwoKeys();
    const { request, response } = SPEC.http_evaluation;
    const asked = await ask(EVALUATION, adapt(request, capability), KEY.db, { "x-request-id": SPEC.http_evaluation.request_id });
    expect(asked.status).toBe(200);
    expect(asked.headers.get("x-request-id")).toBe(SPEC.http_evaluation.request_id);
    expect(asked.body).toMatchObject(response);
    const chain = await receipts(seq);
    expect(asked.body.context).toEqual({ reason: "db.read allowed for db", sequence: seq, sealed: false, receipt: chain.at(-1), details: { grant: 0, uses_before: 0, uses_after: 1 } });
    // §6.1 carries action properties and a time: accepted, neither read.
    const example = await ask(EVALUATION, adapt(SPEC.evaluation.request, capability), KEY.db);
    expect(example.body).toMatchObject(SPEC.evaluation.response.body);
    expect(await dbReads(seq)).toBe(2);
    // Without an X-Request-ID the answer names Baton's own request id, as everywhere.
    expect(example.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("a permit writes exactly the receipt POST /v1/redeem writes, and its outcome can be reported", async () => {
    const [viaRedeem, viaAuthzen] = [await start("deployment"), await start("deployment")];
    const redeemed = await redeem(KEY.deployer, viaRedeem.capability, "deploy.canary", canaryArgs);
    const permitted = await ask(EVALUATION, canary(viaAuthzen.capability));
    expect(permitted.body.decision).toBe(true);
    const [a, b] = [claimsOf(redeemed.body.receipt), claimsOf(permitted.body.context.receipt)];
    // Everything but what names the sequence, its token and the time is the same.
    const same = ({ seq: _s, at: _a, prev: _p, nonce, inputs, ...rest }: Json) => {
      const { token: _t, tokenDigest: _d, ...request } = inputs;
      return JSON.parse(JSON.stringify({ ...rest, inputs: request }).replaceAll(nonce, "<the capability's jti>"));
    };
    expect(same(b)).toEqual(same(a));
    expect(Object.keys(b)).toEqual(Object.keys(a));
    expect(permitted.body.context).toMatchObject({ sequence: viaAuthzen.seq, sealed: redeemed.body.sealed, reason: redeemed.body.message, details: redeemed.body.details });
    const outcome = await reportOutcome(KEY.deployer, permitted.body.context.receipt, "succeeded");
    expect(outcome.status, JSON.stringify(outcome.body)).toBe(200);
  });

  it("the examples as printed are well-formed AuthZEN but not Baton's: a user, no capability → 400, naming what is missing", async () => {
    const verbatim = await ask(EVALUATION, SPEC.evaluation.request, KEY.db);
    expect([verbatim.status, verbatim.body.error.code]).toEqual([400, "INVALID_REQUEST"]);
    const paths = verbatim.body.error.details.map((issue: Json) => issue.path.join("."));
    expect(paths).toEqual(expect.arrayContaining(["subject.type", "resource.type", "context.capability"]));
    // §7.1.2's options example: a "doc" as subject and resource; and, adapted, its entry still has no action.
    const options = await ask(EVALUATIONS, SPEC.evaluations_options.request, KEY.db);
    expect([options.status, options.body.error.code]).toEqual([400, "INVALID_REQUEST"]);
    expect(options.body.error.details.map((issue: Json) => issue.path.join("."))).toEqual(
      expect.arrayContaining(["evaluations.0.subject.type", "evaluations.0.resource.type"]),
    );
    const { capability } = await startTwoKeys();
    const adapted = await ask(EVALUATIONS, adapt(SPEC.evaluations_options.request, capability), KEY.db);
    expect([adapted.status, adapted.body.error.code]).toEqual([400, "INVALID_REQUEST"]);
    expect(adapted.body.error.details.map((issue: Json) => issue.path.join("."))).toEqual(["evaluations.0.action"]);
  });

  it("§7.1.2: the options example, its action and capability supplied; another_option is ignored", async () => {
    const { seq, capability } = await startTwoKeys();
    const request = adapt(SPEC.evaluations_options.request, capability);
    const asked = await ask(EVALUATIONS, { ...request, action: { name: "db.read" } }, KEY.db);
    expect(asked.status, JSON.stringify(asked.body)).toBe(200);
    expect(asked.body.evaluations.map((e: Json) => e.decision)).toEqual([true]);
    expect(await dbReads(seq)).toBe(1);
  });

  it("§7.1 and §7.1.1: entries without defaults, with a default subject and context, and a default action one entry overrides", async () => {
    const { seq, capability } = await startTwoKeys();
    const none = await ask(EVALUATIONS, adapt(SPEC.evaluations_without_defaults.request, capability), KEY.db);
    expect(none.body.evaluations.map((e: Json) => e.decision)).toEqual([true, false, true]);
    const defaults = await ask(EVALUATIONS, adapt(SPEC.evaluations_default_subject_context.request, capability), KEY.db);
    expect(defaults.body.evaluations.map((e: Json) => e.decision)).toEqual([true, false, true]);
    // §10.1.4's request and response: the third entry's can_edit (db.write) is granted by no stage.
    const { request, response, request_id } = SPEC.http_evaluations;
    const overridden = await ask(EVALUATIONS, adapt(request, capability), KEY.db, { "x-request-id": request_id });
    expect(overridden.headers.get("x-request-id")).toBe(request_id);
    expect(overridden.body.evaluations.map((e: Json) => e.decision)).toEqual(response.evaluations.map((e) => e.decision));
    expect(overridden.body.evaluations.map((e: Json) => e.context.code)).toEqual([undefined, "CONDITION_FAILED", "SCOPE_EXCEEDED"]);
    // The batch response omits the top-level decision (§7.2 RECOMMENDED).
    expect(Object.keys(overridden.body)).toEqual(["evaluations"]);
    expect(await dbReads(seq)).toBe(5);
    // Each deny is its own receipt, named in its context.
    const chain = await receipts(seq);
    expect(overridden.body.evaluations[2].context.receipt).toBe(chain.at(-1));
    expect(overridden.body.evaluations[1].context.receipt).toBe(chain.at(-2));
  });

  it("§7.1.2.1 execute_all: every entry, in order → [true, false, true]", async () => {
    const { seq, capability } = await startTwoKeys();
    const chain = await receipts(seq);
    const { request, response } = SPEC.semantics.execute_all;
    const asked = await ask(EVALUATIONS, adapt(request, capability), KEY.db);
    expect(asked.body.evaluations.map((e: Json) => e.decision)).toEqual(response.evaluations.map((e) => e.decision));
    expect(await dbReads(seq)).toBe(2);
    expect(await receipts(seq)).toHaveLength(chain.length + 3);
    // Without options the semantic is execute_all too.
    const { options: _o, ...plain } = adapt(request, capability);
    expect((await ask(EVALUATIONS, plain, KEY.db)).body.evaluations.map((e: Json) => e.decision)).toEqual([true, false, true]);
  });

  it("§7.1.2.1 deny_on_first_deny: the entries after the first deny are not executed — no receipt, no use spent", async () => {
    const { seq, capability } = await startTwoKeys();
    const chain = await receipts(seq);
    const { request, response } = SPEC.semantics.deny_on_first_deny;
    const asked = await ask(EVALUATIONS, adapt(request, capability), KEY.db);
    expect(asked.body.evaluations.map((e: Json) => e.decision)).toEqual(response.evaluations.map((e) => e.decision));
    // The spec's example says why in its own words; Baton's deny carries the gate's code and receipt.
    expect(asked.body.evaluations[1].context).toMatchObject({ code: "CONDITION_FAILED", receipt: expect.any(String) });
    // Document 3 would have been allowed (execute_all above): it spent nothing, and is not in the chain.
    expect(await dbReads(seq)).toBe(1);
    const after = await receipts(seq);
    expect(after).toHaveLength(chain.length + 2);
    expect(after.slice(chain.length).map((r) => claimsOf(r).inputs)).toMatchObject([{ args: { rows: 10 } }, { args: { rows: 1000 } }]);
  });

  it("deny_on_first_deny across sequences: the unexecuted entry's own sequence is untouched", async () => {
    const [first, spent, untouched] = [await start("deployment"), await start("deployment"), await start("deployment")];
    await redeem(KEY.deployer, spent.capability, "deploy.canary", canaryArgs);
    const before = { state: await ledgerState(untouched.seq), chain: await receipts(untouched.seq) };
    const asked = await ask(EVALUATIONS, {
      subject: { type: "agent", id: "agent-7" },
      action: { name: "deploy.canary" },
      resource: { type: "tool", id: "deployer", properties: canaryArgs },
      options: { evaluations_semantic: "deny_on_first_deny" },
      evaluations: [{ context: { capability: first.capability } }, { context: { capability: spent.capability } }, { context: { capability: untouched.capability } }],
    });
    expect(asked.body.evaluations.map((e: Json) => [e.decision, e.context.code])).toEqual([
      [true, undefined],
      [false, "REPLAY_NONCE"],
    ]);
    expect({ state: await ledgerState(untouched.seq), chain: await receipts(untouched.seq) }).toEqual(before);
    expect((await redeem(KEY.deployer, untouched.capability, "deploy.canary", canaryArgs)).body.decision).toBe("ALLOW");
  });

  it("§7.1.2.1 permit_on_first_permit: the first permit ends it; denies before it stand, the rest are not executed", async () => {
    const { seq, capability } = await startTwoKeys();
    const chain = await receipts(seq);
    const { request, response } = SPEC.semantics.permit_on_first_permit;
    const asked = await ask(EVALUATIONS, adapt(request, capability), KEY.db);
    expect(asked.body.evaluations.map((e: Json) => e.decision)).toEqual(response.evaluations.map((e) => e.decision));
    expect(await dbReads(seq)).toBe(1);
    expect(await receipts(seq)).toHaveLength(chain.length + 1);
    // Documents 2, 3, 1: the deny is receipted, the permit ends the batch before document 1.
    const adapted = adapt(request, capability);
    const reordered = { ...adapted, evaluations: [adapted.evaluations[1], adapted.evaluations[2], adapted.evaluations[0]] };
    const second = await ask(EVALUATIONS, reordered, KEY.db);
    expect(second.body.evaluations.map((e: Json) => [e.decision, e.context.code])).toEqual([
      [false, "CONDITION_FAILED"],
      [true, undefined],
    ]);
    expect(await dbReads(seq)).toBe(2);
    expect(await receipts(seq)).toHaveLength(chain.length + 3);
  });

  it("an evaluations request without entries is the single evaluation, answered as one (§7.1)", async () => {
    const { seq, capability } = await start("deployment");
    for (const evaluations of [undefined, []]) {
      const { seq: other, capability: token } = await start("deployment");
      const asked = await ask(EVALUATIONS, { ...canary(token), ...(evaluations ? { evaluations } : {}) });
      expect(Object.keys(asked.body).sort()).toEqual(["context", "decision"]);
      expect(asked.body).toMatchObject({ decision: true, context: { sequence: other } });
    }
    await expectRefused(seq, () => ask(EVALUATIONS, { evaluations: [] }), "INVALID_REQUEST", 400);
    expect((await ask(EVALUATIONS, canary(capability))).body.decision).toBe(true);
  });
});

describe("every code the gate gives, as an AuthZEN decision", () => {
  it("REPLAY_NONCE: a permitted evaluation replayed", async () => {
    const { seq, capability } = await start("deployment");
    expect((await ask(EVALUATION, canary(capability))).body.decision).toBe(true);
    await expectDeny(seq, () => ask(EVALUATION, canary(capability)), "REPLAY_NONCE");
    // The same capability at /v1/redeem: spent there too, one ledger.
    expect((await redeem(KEY.deployer, capability, "deploy.canary", canaryArgs)).body.error.code).toBe("REPLAY_NONCE");
  });

  it("SEQUENCE_VIOLATION, SCOPE_EXCEEDED, CONDITION_FAILED, AUDIENCE_MISMATCH", async () => {
    const { seq, capability } = await start("deployment");
    const skipped = await expectDeny(seq, () => ask(EVALUATION, canary(capability, { action: "deploy.rollout" })), "SEQUENCE_VIOLATION");
    expect(skipped.context.details).toMatchObject({ granted_in: ["rollout"], current_stage: "canary" });
    await expectDeny(seq, () => ask(EVALUATION, canary(capability, { action: "deploy.delete" })), "SCOPE_EXCEEDED");
    const condition = await expectDeny(seq, () => ask(EVALUATION, canary(capability, { args: { ...canaryArgs, percent: 50 } })), "CONDITION_FAILED");
    expect(condition.context.details.condition).toContain("args.percent <= 10");
    // The database tool asking about itself with the deployer's capability.
    await expectDeny(seq, () => ask(EVALUATION, canary(capability, { tool: "db" }), KEY.db), "AUDIENCE_MISMATCH");
    expect((await ask(EVALUATION, canary(capability))).body.decision).toBe(true);
  });

  it("SCOPE_EXCEEDED: a grant's uses exhausted", async () => {
    const { seq, capability } = await startTwoKeys();
    const plan = { subject: { type: "agent", id: "agent-7" }, action: { name: "deploy.plan" }, resource: { type: "tool", id: "deployer", properties: { plan: ["a"] } }, context: { capability } };
    expect((await ask(EVALUATION, plan)).body.decision).toBe(true);
    const denied = await expectDeny(seq, () => ask(EVALUATION, plan), "SCOPE_EXCEEDED");
    expect(denied.context.details).toEqual({ remaining_uses: 0 });
  });

  it("TOKEN_INVALID: the subject is not the capability's actor — receipted as the tool's refusal, nothing spent", async () => {
    const { seq, capability } = await start("deployment");
    const denied = await expectDeny(seq, () => ask(EVALUATION, canary(capability, { subject: "agent-2" })), "TOKEN_INVALID");
    expect(denied.context.reason).toMatch(/held by agent-7, not by agent-2/);
    // What the gate alone would have said, and who named the subject.
    expect(denied.context.details).toEqual({ reported_by: "deployer", gate: "ALLOW" });
    expect(claimsOf(denied.context.receipt).inputs).toMatchObject({ kind: "redeem", refused: { code: "TOKEN_INVALID" } });
    // The real actor still holds an unspent capability.
    expect((await ask(EVALUATION, canary(capability))).body.decision).toBe(true);
  });

  it("TOKEN_INVALID: a capability whose signature does not verify, unreceipted", async () => {
    const { seq, capability } = await start("deployment");
    const [h, p, s] = capability.split(".") as [string, string, string];
    const flipped = `${h}.${p}.${s.slice(0, -2)}${s.endsWith("AA") ? "BA" : "AA"}`;
    await expectDeny(seq, () => ask(EVALUATION, canary(flipped)), "TOKEN_INVALID", false);
  });

  it("TOKEN_INVALID without the DPoP proof a bound capability needs; with it, a permit", async () => {
    const { privateKey, publicKey } = await generateKeyPair("EdDSA", { extractable: true });
    const publicJwk = { ...(await exportJWK(publicKey)), kid: "agent-7-key", alg: "EdDSA" };
    const { seq, capability } = await start("incident-response", { body: { actor_jwk: publicJwk } });
    const htu = "https://observability.example/v1/logs";
    const logs = (context: Json = {}) => ({
      subject: { type: "agent", id: "agent-7" },
      action: { name: "logs.read" },
      resource: { type: "tool", id: "observability", properties: { service: PARAMS["incident-response"].service } },
      context: { capability, ...context },
    });
    const bare = await expectDeny(seq, () => ask(EVALUATION, logs(), KEY.observability), "TOKEN_INVALID");
    expect(bare.context.reason).toMatch(/DPoP proof is required/);
    const proof = await createDpopProof(privateKey, publicJwk, { htm: "POST", htu, accessToken: capability, iat: Math.floor(Date.now() / 1000) });
    const bound = await ask(EVALUATION, logs({ dpop: { proof, htm: "POST", htu } }), KEY.observability);
    expect(bound.body.decision, JSON.stringify(bound.body)).toBe(true);
    // The proof is one-time.
    await expectDeny(seq, () => ask(EVALUATION, logs({ dpop: { proof, htm: "POST", htu } }), KEY.observability), "REPLAY_NONCE");
  });

  it("TOKEN_EXPIRED: a capability past its exp", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      const { seq, capability } = await start("short-lived");
      vi.setSystemTime((decodeJwt(capability).exp as number) * 1000 + 1000);
      const work = { ...canary(capability, { action: "ticket.work", args: {} }) };
      await expectDeny(seq, () => ask(EVALUATION, work), "TOKEN_EXPIRED");
    } finally {
      vi.useRealTimers();
    }
  });

  it("SEALED_SEQUENCE: after the seal, answered but not receipted", async () => {
    const { seq, capability } = await start("deployment");
    expect((await api("POST", `/v1/sequences/${seq}/revoke`, { key: KEY.orchestrator, body: { reason: "test" } })).body.sealed).toBe(true);
    await expectDeny(seq, () => ask(EVALUATION, canary(capability)), "SEALED_SEQUENCE", false);
  });

  it("SIGNAL_REQUIRED: a grant that requires a signal the actor does not have", async () => {
    const actor = `agent-${crypto.randomUUID().slice(0, 8)}`;
    const { seq, capability } = await start("signal-required", { body: { actor } });
    const run = { ...canary(capability, { subject: actor, action: "ci.run", tool: "ci", args: {} }) };
    const denied = await expectDeny(seq, () => ask(EVALUATION, run, KEY.ci), "SIGNAL_REQUIRED");
    expect(denied.context.details).toEqual({ missing: ["novelty.new-action"] });
  });

  it("SIGNAL_BLOCKED: the flow signal of an earlier run blocks the actor's next first step", async () => {
    const actor = `analyst-agent-${crypto.randomUUID().slice(0, 8)}`;
    const flow = async () => {
      const started = await api("POST", "/v1/sequences", {
        key: KEY.orchestrator,
        body: { workflow: "report-publication", params: PARAMS["report-publication"], subject: "user:dana", actor },
      });
      return { seq: started.body.sequence as string, capability: started.body.capability as string };
    };
    const first = await flow();
    const read = await redeem(KEY.warehouse, first.capability, "records.read", { dataset: "patients-2026" });
    const summarise = (await reportOutcome(KEY.warehouse, read.body.receipt, "succeeded")).body.capability;
    const summary = await redeem(KEY.model, summarise, "summary.create", {});
    const publish = (await reportOutcome(KEY.model, summary.body.receipt, "succeeded")).body.capability;
    expect((await redeem(KEY.dashboard, publish, "dashboard.publish", { dashboard: "public-stats" })).body.sealed).toBe(true);
    // Delivery to the analysis plane is asynchronous: wait for the signal.
    for (let i = 0; ; i++) {
      const { body } = await api("GET", `/v1/signals?actor=${encodeURIComponent(actor)}`, { key: KEY.operator });
      if (body.signals.some((s: Json) => s.detector === "flow.restricted-to-public")) break;
      if (i > 100) throw new Error("no flow signal");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const again = await flow();
    const records = canary(again.capability, { subject: actor, action: "records.read", tool: "warehouse", args: { dataset: "patients-2026" } });
    await expectDeny(again.seq, () => ask(EVALUATION, records, KEY.warehouse), "SIGNAL_BLOCKED");
  });

  it("UNKNOWN_SEQUENCE: a capability Baton signed for a sequence that was never started", async () => {
    const { seq, capability } = await start("deployment");
    const { "//": _note, active, keys } = batonTestKeys;
    const { kid, ...jwk } = keys.find((k) => k.kid === active) as (typeof keys)[number];
    const claims = { ...decodeJwt(capability), seq: env.SEQUENCES.newUniqueId().toString() };
    const forged = await new SignJWT(claims).setProtectedHeader({ alg: "EdDSA", typ: TYP.capability, kid }).sign(await importJWK(jwk, "EdDSA"));
    const denied = await ask(EVALUATION, canary(forged));
    expect(denied.body).toMatchObject({ decision: false, context: { code: "UNKNOWN_SEQUENCE", receipt: null } });
    // The genuine one is untouched.
    expect((await ask(EVALUATION, canary(capability))).body.decision).toBe(true);
    expect(await receipts(seq)).toHaveLength(2);
  });
});

describe("requests refused whole: an HTTP error, nothing evaluated", () => {
  it("UNAUTHENTICATED and FORBIDDEN: no tool credential, another role, or a resource that is another tool", async () => {
    const { seq, capability } = await start("deployment");
    await expectRefused(seq, () => ask(EVALUATION, canary(capability), "not-a-key"), "UNAUTHENTICATED", 401);
    await expectRefused(seq, () => ask(EVALUATION, canary(capability), KEY.agent), "FORBIDDEN", 403);
    // The deployer asking about the database tool: a tool speaks only for itself.
    await expectRefused(seq, () => ask(EVALUATION, canary(capability, { tool: "db" })), "FORBIDDEN", 403);
    const batch = { ...canary(capability), evaluations: [{}, { resource: { type: "tool", id: "db" } }] };
    const refused = await expectRefused(seq, () => ask(EVALUATIONS, batch), "FORBIDDEN", 403);
    expect(refused.error.details).toEqual({ evaluation: 1, resource: "db" });
    expect((await ask(EVALUATION, canary(capability))).body.decision).toBe(true);
  });

  it("INVALID_REQUEST: malformed bodies, and a batch with one bad entry, change nothing", async () => {
    const { seq, capability } = await start("deployment");
    const good = canary(capability);
    const deep = (n: number): Json => (n === 0 ? {} : { a: deep(n - 1) });
    const bodies: [string, unknown][] = [
      ["no subject", { ...good, subject: undefined }],
      ["a user", { ...good, subject: { type: "user", id: "alice@example.com" } }],
      ["no action name", { ...good, action: {} }],
      ["another resource type", { ...good, resource: { ...good.resource, type: "document" } }],
      ["no context", { ...good, context: undefined }],
      ["no capability", { ...good, context: { time: "1985-10-26T01:22-07:00" } }],
      ["a capability that is not a JWS", { ...good, context: { capability: "not a jws" } }],
      ["arguments nested too deep", { ...good, resource: { ...good.resource, properties: deep(40) } }],
      ["properties not an object", { ...good, resource: { ...good.resource, properties: [1, 2] } }],
      ["a line break in the subject", { ...good, subject: { type: "agent", id: "agent-7\nadmin" } }],
      ["an array", [good]],
    ];
    for (const [what, body] of bodies) {
      const refused = await expectRefused(seq, () => ask(EVALUATION, body), "INVALID_REQUEST", 400);
      expect(refused.error.details, what).toBeTruthy();
    }
    // Boxcars: an unknown semantic, too many entries, and one entry lacking its action behind a good one.
    const batches: unknown[] = [
      { ...good, evaluations: [{}], options: { evaluations_semantic: "first_wins" } },
      { ...good, evaluations: Array.from({ length: AUTHZEN_MAX_EVALUATIONS + 1 }, () => ({})) },
      { subject: good.subject, resource: good.resource, context: good.context, evaluations: [{ action: good.action }, {}] },
      { ...good, evaluations: [{}, { context: {} }] },
    ];
    for (const body of batches) await expectRefused(seq, () => ask(EVALUATIONS, body), "INVALID_REQUEST", 400);
    const notJson = await api("POST", EVALUATION, { key: KEY.deployer, raw: "{", headers: { "content-type": "application/json" } });
    expect([notJson.status, notJson.body.error.code]).toEqual([400, "INVALID_REQUEST"]);
    expect((await ask(EVALUATION, good)).body.decision).toBe(true);
  });

  it("INVALID_REQUEST: a member name twice (the PEP may have read the first capability, JSON.parse keeps the last)", async () => {
    const [{ seq, capability }, other] = [await start("deployment"), await start("deployment")];
    const text = JSON.stringify(canary(other.capability)).replace('"context":{', `"context":{"capability":"${capability}",`);
    expect(text.match(/"capability"/g)).toHaveLength(2);
    const raw = () => api("POST", EVALUATION, { key: KEY.deployer, raw: text, headers: { "content-type": "application/json" } });
    await expectRefused(seq, raw, "INVALID_REQUEST", 400);
    await expectRefused(other.seq, raw, "INVALID_REQUEST", 400);
  });

  it("unknown members are ignored, as the spec requires (§10.1.1)", async () => {
    const { capability } = await start("deployment");
    const body = canary(capability) as Json;
    const extended = {
      ...body,
      extension: { x: 1 },
      subject: { ...body.subject, properties: { department: "Sales" }, extra: true },
      context: { ...body.context, time: "1985-10-26T01:22-07:00", schema: "https://schema.example.com/access-request.schema.json" },
    };
    expect((await ask(EVALUATION, extended)).body.decision).toBe(true);
  });

  it("transport errors of the spec's HTTPS binding keep Baton's envelope and echo the PEP's request id", async () => {
    const { seq, capability } = await start("deployment");
    const id = "bfe9eb29-ab87-4ca3-be83-a1d5d8305716";
    const anonymous = await api("POST", EVALUATION, { body: canary(capability), headers: { "x-request-id": id } });
    expect([anonymous.status, anonymous.body.error.code, anonymous.headers.get("x-request-id")]).toEqual([401, "UNAUTHENTICATED", id]);
    const text = await api("POST", EVALUATION, { key: KEY.deployer, raw: JSON.stringify(canary(capability)), headers: { "content-type": "text/plain", "x-request-id": id } });
    expect([text.status, text.body.error.code, text.headers.get("x-request-id")]).toEqual([415, "UNSUPPORTED_MEDIA_TYPE", id]);
    const wrongMethod = await api("GET", EVALUATIONS, { key: KEY.deployer, headers: { "x-request-id": id } });
    expect([wrongMethod.status, wrongMethod.headers.get("allow"), wrongMethod.headers.get("x-request-id")]).toEqual([405, "POST", id]);
    const big = JSON.stringify({ ...canary(capability), padding: "a".repeat(BODY_MAX_BYTES) });
    // Refused while reading, before any route: the id still comes back.
    let tooLarge: Awaited<ReturnType<typeof api>> | undefined;
    await expectRefused(
      seq,
      async () => (tooLarge = await api("POST", EVALUATION, { key: KEY.deployer, raw: big, headers: { "content-type": "application/json", "x-request-id": id } })),
      "PAYLOAD_TOO_LARGE",
      413,
    );
    expect(tooLarge?.headers.get("x-request-id")).toBe(id);
    // An id Baton will not repeat (a control character, or too long) is replaced by its own.
    const long = await api("POST", EVALUATION, { key: KEY.deployer, body: { nope: 1 }, headers: { "x-request-id": "x".repeat(300) } });
    expect(long.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });
});
