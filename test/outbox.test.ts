import { env, runInDurableObject } from "cloudflare:test";
import { compactVerify, decodeJwt, decodeProtectedHeader } from "jose";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../src/config/load.js";
import { type DeliveryTarget, deliverOutbox } from "../src/ledger/outbox.js";
import { OutboxStore } from "../src/ledger/outbox-store.js";
import { outboxWants, webhookTarget } from "../src/ledger/outbox-targets.js";
import { loadKeyring } from "../src/config/keyring.js";
import { RETRY_MAX_DELAY_MS, retryDelayMs } from "../src/outbound.js";
import { sha256 } from "../src/tokens/digest.js";
import { indexTarget } from "../src/ledger/outbox-targets.js";
import { KEY, PARAMS, api, approve, attest, claimsOf, jwksLookup, receipts, redeem, start, submitEvidence } from "./helpers.js";

/**
 * A receiver that answers with `statuses` in turn (then 200), and keeps every request
 * it got: the webhook target POSTs through it exactly as through the global fetch.
 */
function receiver(statuses: number[] = []) {
  const got: { url: string; type: string | null; body: string; status: number }[] = [];
  const fetcher = async (url: string, init: RequestInit) => {
    const status = statuses.shift() ?? 200;
    got.push({ url, type: new Headers(init.headers).get("content-type"), body: String(init.body), status });
    return new Response(null, { status });
  };
  return { got, fetcher, acknowledged: () => got.filter((g) => g.status < 300).map((g) => decodeJwt(g.body)) };
}

/** A reimbursement whose gate waits for the finance manager: receipts start (0) and ESCALATE (1). */
async function escalated() {
  const { seq } = await start("reimbursement");
  const facts = { report: PARAMS.reimbursement.report, total: PARAMS.reimbursement.total };
  const summary = await attest({ attester: "expense-checker", seq, stage: "gather", type: "summary_complete", facts });
  expect((await submitEvidence(seq, summary)).status).toBe(202);
  return seq;
}

async function hooks(...specs: { id: string; statuses?: number[]; events?: ("escalated" | "sealed" | "revoked" | "signal")[] }[]) {
  const [config, keyring] = await Promise.all([loadConfig(env), loadKeyring(env)]);
  return specs.map(({ id, statuses, events }) => {
    const r = receiver(statuses);
    const webhook = { id, url: `https://hooks.example/${id}`, events: events ?? ["escalated", "sealed", "revoked"] };
    return { ...r, target: webhookTarget(config.issuer, webhook, { keyring, fetcher: r.fetcher }) };
  });
}

function ledger(seq: string) {
  return env.SEQUENCES.get(env.SEQUENCES.idFromString(seq));
}

function deliver(seq: string, targets: DeliveryTarget[], now: number) {
  return runInDurableObject(ledger(seq), (_instance, state) => deliverOutbox(new OutboxStore(state.storage.sql), targets, now));
}

function delivery(seq: string, target: string) {
  return runInDurableObject(ledger(seq), (_instance, state) =>
    state.storage.sql.exec("SELECT through, attempts, next_at FROM delivery WHERE target = ?", target).toArray()[0],
  );
}

describe("the ledger's outbox: targets with their own cursors", () => {
  it("a failing endpoint backs off alone (2 s, 4 s, …) while another is delivered; its cursor moves only on a 2xx", async () => {
    const seq = await escalated();
    const [down, up] = await hooks({ id: "down", statuses: [500, 503, 502] }, { id: "up" });
    const t = 1_000_000;
    expect(await deliver(seq, [down!.target, up!.target], t)).toEqual({ at: t + 2_000 });
    expect(up!.acknowledged().map((e) => e.jti)).toEqual([`${seq}.1`]);
    expect(await delivery(seq, "webhook:up")).toEqual({ through: 1, attempts: 0, next_at: 0 });
    // The unwanted start receipt moved the failing cursor; the escalation did not.
    expect(await delivery(seq, "webhook:down")).toEqual({ through: 0, attempts: 1, next_at: t + 2_000 });

    // Not due yet: not even tried.
    await deliver(seq, [down!.target, up!.target], t + 1_999);
    expect(down!.got).toHaveLength(1);
    await deliver(seq, [down!.target], t + 2_000);
    expect(await delivery(seq, "webhook:down")).toEqual({ through: 0, attempts: 2, next_at: t + 2_000 + 4_000 });
    await deliver(seq, [down!.target], t + 6_000);
    expect(await delivery(seq, "webhook:down")).toMatchObject({ attempts: 3, next_at: t + 6_000 + 8_000 });
    // Recovered: delivered, the retry state cleared, nothing more to do.
    expect(await deliver(seq, [down!.target], t + 14_000)).toBeNull();
    expect(await delivery(seq, "webhook:down")).toEqual({ through: 1, attempts: 0, next_at: 0 });
    // At least once, and every attempt of one event under the same jti.
    expect(new Set(down!.got.map((g) => decodeJwt(g.body).jti))).toEqual(new Set([`${seq}.1`]));
    expect(down!.got).toHaveLength(4);
  });

  it("a target that throws is a failed attempt like a refusal; the others still move", async () => {
    const seq = await escalated();
    const [up] = await hooks({ id: "beside-a-throwing-one" });
    const throwing: DeliveryTarget = { name: "throws", wants: () => true, send: async () => Promise.reject(new Error("boom")) };
    await deliver(seq, [throwing, up!.target], 5_000);
    expect(await delivery(seq, "throws")).toEqual({ through: -1, attempts: 1, next_at: 7_000 });
    expect(await delivery(seq, "webhook:beside-a-throwing-one")).toMatchObject({ through: 1, attempts: 0 });
  });

  it("in order per sequence: a later event never overtakes one still being retried", async () => {
    const seq = await escalated();
    expect((await approve(seq, "fran")).status).toBe(200);
    expect((await api("POST", `/v1/sequences/${seq}/revoke`, { key: KEY.orchestrator, body: { reason: "test" } })).status).toBe(200);
    const [hook] = await hooks({ id: "ordered", statuses: [500] });
    await deliver(seq, [hook!.target], 10_000);
    expect(hook!.got.map((g) => decodeJwt(g.body).event)).toEqual(["escalated"]);
    await deliver(seq, [hook!.target], 12_000);
    expect(hook!.acknowledged().map((e) => e.event)).toEqual(["escalated", "revoked"]);
    expect(hook!.acknowledged().map((e) => e.n)).toEqual([1, 3]);
  });

  it("each event is a JWS of the service key (typ baton-event+jwt) carrying the receipt, its hash and the console link", async () => {
    const seq = await escalated();
    const [hook] = await hooks({ id: "signed" });
    await deliver(seq, [hook!.target], Date.now());
    const [sent] = hook!.got;
    expect(sent).toMatchObject({ url: "https://hooks.example/signed", type: "application/jwt" });
    const header = decodeProtectedHeader(sent!.body);
    expect(header).toMatchObject({ alg: "EdDSA", typ: "baton-event+jwt" });
    const key = (await jwksLookup())(header.kid as string);
    const { payload } = await compactVerify(sent!.body, key!.key);
    const claims = JSON.parse(new TextDecoder().decode(payload));
    const receipt = (await receipts(seq))[1]!;
    expect(claims).toMatchObject({ iss: "https://baton.test", jti: `${seq}.1`, event: "escalated", seq, n: 1, receipt });
    expect(claims.hash).toBe(await sha256(receipt));
    expect(claims.console_url).toBe(`https://baton.test/console/sequences/${seq}`);
    expect(claimsOf(claims.receipt).details).toMatchObject({ group: "finance-managers", remaining: 1 });
  });

  it("an endpoint gets only the events it subscribed to", async () => {
    const seq = await escalated();
    await api("POST", `/v1/sequences/${seq}/revoke`, { key: KEY.orchestrator, body: { reason: "test" } });
    const [onlyRevoked] = await hooks({ id: "only-revoked", events: ["revoked"] });
    await deliver(seq, [onlyRevoked!.target], 1);
    expect(onlyRevoked!.acknowledged().map((e) => e.event)).toEqual(["revoked"]);
  });

  it("the redeem that seals is an event and reaches the index; the redeems before it are skipped undecoded", async () => {
    const { seq, capability } = await start("deployment");
    expect((await redeem(KEY.deployer, capability, "deploy.canary", { ...PARAMS.deployment, percent: 5 })).status).toBe(200);
    const passed = await attest({ seq, stage: "canary", type: "canary_passed", facts: { ...PARAMS.deployment, error_rate: 0.001 } });
    const advanced = await submitEvidence(seq, passed);
    expect((await redeem(KEY.deployer, advanced.body.capability, "deploy.rollout", PARAMS.deployment)).body.sealed).toBe(true);
    const [hook] = await hooks({ id: "seals" });
    const decoded = new Set<number>();
    const counting: DeliveryTarget = {
      ...hook!.target,
      wants: (r) => {
        const claims = r.claims;
        r.claims = () => {
          decoded.add(r.n);
          return claims();
        };
        return hook!.target.wants(r);
      },
    };
    await deliver(seq, [counting], 1);
    expect(hook!.acknowledged().map((e) => [e.event, e.n])).toEqual([["sealed", 3]]);
    // start, the canary redeem (skipped: an allowed redeem that is not the last), the advance, the sealing rollout.
    expect([...decoded]).toEqual([0, 2, 3]);

    const named = () => env.SEQUENCE_INDEX.get(env.SEQUENCE_INDEX.idFromName(`seal-${seq}`));
    const record = { seq, workflowId: "deployment", workflow: "h", params: {}, subject: "user:alice", actor: "agent-7", orchestrator: "orchestrator", createdAt: 1 };
    // The stub is made inside the ledger, as its outbox makes it (a stub is bound to the object that made it);
    // a cursor of its own, as the ledger's own index target has already taken the chain.
    await runInDurableObject(ledger(seq), (_i, state) => deliverOutbox(new OutboxStore(state.storage.sql), [{ ...indexTarget(named(), record), name: "index-under-test" }], 1));
    const index = named();
    const rows = await runInDurableObject(index, (_i, state) => state.storage.sql.exec("SELECT status, seal_reason, stage, through FROM sequences").toArray());
    expect(rows).toEqual([{ status: "sealed", seal_reason: "completed", stage: "rollout", through: 3 }]);
  });

  it("backoff doubles from 2 s and stops growing at 10 min", () => {
    expect([1, 2, 3, 4].map(retryDelayMs)).toEqual([2_000, 4_000, 8_000, 16_000]);
    expect(retryDelayMs(9)).toBe(512_000);
    expect(retryDelayMs(10)).toBe(RETRY_MAX_DELAY_MS);
    expect(retryDelayMs(1_000)).toBe(RETRY_MAX_DELAY_MS);
  });

  it("the hot path hands an allowed redeem to the analysts, and wakes the outbox only for a receipt another target wants", async () => {
    const config = await loadConfig(env);
    const quiet = { ...config, detectors: [], webhooks: [] };
    const redeem = { kind: "redeem", decision: "ALLOW", effects: [{ type: "use" }, { type: "spend" }], stage: "s", at: 0, minted: null };
    expect(outboxWants(quiet, redeem, true)).toEqual({ analysts: false, others: false });
    expect(config.detectors.length).toBeGreaterThan(0);
    expect(outboxWants(config, redeem, true)).toEqual({ analysts: true, others: false });
    expect(outboxWants(config, redeem, false)).toEqual({ analysts: false, others: false });
    expect(outboxWants(quiet, { ...redeem, effects: [{ type: "seal", reason: "completed" }] }, true)).toEqual({ analysts: false, others: true });
    expect(outboxWants(config, { ...redeem, effects: [{ type: "seal", reason: "completed" }] }, true)).toEqual({ analysts: true, others: true });
    expect(outboxWants(quiet, { ...redeem, kind: "evidence", decision: "ESCALATE", effects: [] }, false)).toEqual({ analysts: false, others: true });
    const hooked = { ...quiet, webhooks: [{ id: "w", url: "https://x.example", events: ["signal" as const] }] };
    expect(outboxWants(hooked, redeem, true)).toEqual({ analysts: false, others: false });
  });
});
