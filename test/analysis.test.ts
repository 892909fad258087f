import { describe, expect, it } from "vitest";
import reportPublication from "../examples/workflows/report-publication.json";
import { replayChain } from "../src/audit/replay.js";
import { verifyReceiptChain } from "../src/audit/verify-chain.js";
import { compileWorkflow } from "../src/policy/compile.js";
import { verifyJws } from "../src/tokens/jws.js";
import { TYP } from "../src/tokens/kinds.js";
import { receiptHash } from "../src/tokens/receipt.js";
import { KEY, PARAMS, api, claimsOf, jwksLookup, receipts, redeem, reportOutcome, until } from "./helpers.js";

type Flow = "report-publication" | "report-publication-unguarded";

/** A fresh actor per test, so one test's signals cannot touch another's. */
const newActor = () => `analyst-agent-${crypto.randomUUID().slice(0, 8)}`;

async function startFlow(workflow: Flow, actor: string) {
  const started = await api("POST", "/v1/sequences", {
    key: KEY.orchestrator,
    body: { workflow, params: PARAMS[workflow], subject: "user:dana", actor },
  });
  expect(started.status).toBe(201);
  return { seq: started.body.sequence as string, capability: started.body.capability as string };
}

/** read restricted records → summarise → publish to a public dashboard: three allowed actions. */
async function runFlow(workflow: Flow, actor: string) {
  const { seq, capability } = await startFlow(workflow, actor);
  const read = await redeem(KEY.warehouse, capability, "records.read", { dataset: "patients-2026" });
  expect(read.body.decision).toBe("ALLOW");
  const summarise = (await reportOutcome(KEY.warehouse, read.body.receipt, "succeeded")).body.capability;
  const summary = await redeem(KEY.model, summarise, "summary.create", {});
  const publish = (await reportOutcome(KEY.model, summary.body.receipt, "succeeded")).body.capability;
  const published = await redeem(KEY.dashboard, publish, "dashboard.publish", { dashboard: "public-stats" });
  expect(published.body).toMatchObject({ decision: "ALLOW", sealed: true });
  return { seq, allowed: [read.body.receipt, summary.body.receipt, published.body.receipt] as string[] };
}

async function signalsOf(actor: string) {
  const { body } = await api("GET", `/v1/signals?actor=${encodeURIComponent(actor)}`, { key: KEY.operator });
  return body as { signals: { id: string; detector: string; status: string; signal: string }[]; log: string[] };
}

/** Delivery to the analysis plane is asynchronous (the outbox runs after each commit, outside its answer): wait for it. */
function waitForSignal(actor: string, detector: string) {
  return until(`a ${detector} signal for ${actor}`, async () => {
    const found = (await signalsOf(actor)).signals.filter((s) => s.detector === detector);
    return found.length > 0 ? found : undefined;
  }, 100);
}

describe("the analysis plane", () => {
  it("restricted → summarised → public: one flow signal naming the three receipts; the next first step is SIGNAL_BLOCKED", async () => {
    const actor = newActor();
    const first = await runFlow("report-publication", actor);
    const signals = await waitForSignal(actor, "flow.restricted-to-public");
    expect(signals).toHaveLength(1);
    const verifiedSignal = await verifyJws(signals[0]!.signal, { typ: TYP.signal, algorithms: ["EdDSA"], resolveKey: await jwksLookup() });
    if (!verifiedSignal.ok) throw new Error(`the signal does not verify: ${verifiedSignal.message}`);
    const signal = verifiedSignal.payload as Record<string, any>;
    expect(signal).toMatchObject({ detector: "flow.restricted-to-public", version: 1, actor, severity: "high" });
    expect(signal.receipts).toEqual(await Promise.all(first.allowed.map((r) => receiptHash(r))));

    const again = await startFlow("report-publication", actor);
    const blocked = await redeem(KEY.warehouse, again.capability, "records.read", { dataset: "patients-2026" });
    expect(blocked.status).toBe(403);
    expect(blocked.body.error).toMatchObject({ code: "SIGNAL_BLOCKED", details: { signals: [signals[0]!.id] } });
    // The gate recorded the signal it consulted, so the replay uses it, not today's.
    expect(claimsOf(blocked.body.error.receipt).inputs).toMatchObject({ signals: [{ id: signals[0]!.id, detector: "flow.restricted-to-public" }] });

    // The earlier receipts still verify and replay unchanged; so does the blocked sequence.
    const workflow = await compileWorkflow(reportPublication);
    for (const seq of [first.seq, again.seq]) {
      const verdict = await verifyReceiptChain(await receipts(seq), await jwksLookup());
      if (!verdict.ok) throw new Error(verdict.reason);
      expect((await replayChain(verdict.receipts, workflow)).divergences).toEqual([]);
    }
  });

  it("a workflow that does not declare the signal is unaffected by it", async () => {
    const actor = newActor();
    await runFlow("report-publication", actor);
    await waitForSignal(actor, "flow.restricted-to-public");
    // Same actor, same steps, the signal active — but this version does not take it as an input.
    const unguarded = await runFlow("report-publication-unguarded", actor);
    const chain = (await receipts(unguarded.seq)).map(claimsOf);
    expect(chain.every((r) => r.code === null)).toBe(true);
    expect(chain.some((r) => "signals" in (r.inputs as object))).toBe(false);
  });

  it("an operator acknowledges (still in force) or clears (no longer in force) a signal; each is a signed log event", async () => {
    const actor = newActor();
    await runFlow("report-publication", actor);
    const [signal] = await waitForSignal(actor, "flow.restricted-to-public");
    const path = (action: string) => `/v1/signals/${signal!.id}/${action}`;
    expect((await api("POST", path("clear"), { key: KEY.auditor, body: { actor } })).body.error.code).toBe("FORBIDDEN");
    const acknowledged = await api("POST", path("acknowledge"), { key: KEY.operator, body: { actor, note: "looking into it" } });
    expect(acknowledged.body).toMatchObject({ status: "acknowledged" });
    const stillBlocked = await startFlow("report-publication", actor);
    expect((await redeem(KEY.warehouse, stillBlocked.capability, "records.read", { dataset: "patients-2026" })).body.error.code).toBe("SIGNAL_BLOCKED");

    const cleared = await api("POST", path("clear"), { key: KEY.operator, body: { actor, note: "false positive: synthetic data" } });
    expect(cleared.body).toMatchObject({ status: "cleared" });
    expect(claimsOf(cleared.body.receipt)).toMatchObject({ kind: "signal", event: "cleared", operator: "ops", signal: signal!.id });
    const allowed = await startFlow("report-publication", actor);
    expect((await redeem(KEY.warehouse, allowed.capability, "records.read", { dataset: "patients-2026" })).body.decision).toBe("ALLOW");

    // The log: emitted, acknowledged, cleared — each entry signed by a key of Baton's JWKS, hash-chained.
    const { log } = await signalsOf(actor);
    const keys = await jwksLookup();
    const events: { n: number; prev: string | null; event: string; signal: string; operator?: string }[] = [];
    for (const entry of log) {
      const verified = await verifyJws(entry, { typ: TYP.receipt, algorithms: ["EdDSA"], resolveKey: keys });
      if (!verified.ok) throw new Error(`signal log entry does not verify: ${verified.message}`);
      events.push(verified.payload as (typeof events)[number]);
    }
    expect(events.filter((e) => e.signal === signal!.id).map((e) => [e.event, e.operator ?? null])).toEqual([
      ["emitted", null],
      ["acknowledged", "ops"],
      ["cleared", "ops"],
    ]);
    expect(events.map((e) => e.n)).toEqual(log.map((_, i) => i));
    expect(events[0]!.prev).toBeNull();
    for (let i = 1; i < log.length; i++) expect(events[i]!.prev).toBe(await receiptHash(log[i - 1]!));
    // An edited entry (the operator's note) no longer verifies.
    const [h, p, sig] = log.at(-1)!.split(".") as [string, string, string];
    const edited = { ...claimsOf(log.at(-1)!), note: "nothing to see" };
    const tampered = `${h}.${btoa(JSON.stringify(edited)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")}.${sig}`;
    expect(p).not.toBe(tampered.split(".")[1]);
    expect(await verifyJws(tampered, { typ: TYP.receipt, algorithms: ["EdDSA"], resolveKey: keys })).toMatchObject({ ok: false, message: "signature verification failed" });
    // A signal never edits a past receipt: the first sequence's chain is untouched.
  });
});

describe("delivery to the analysis plane", () => {
  /** A receipt as a ledger would deliver it (the analyst trusts its only caller, the ledger, and reads claims). */
  function receipt(seq: string, n: number, at: number, action: string, labels: string[], effect?: "read" | "write") {
    const b64 = (value: unknown) => btoa(JSON.stringify(value)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    const claims = n === 0
      ? { seq, n, at, kind: "start", decision: "ALLOW", code: null, inputs: { kind: "start" }, details: {} }
      : { seq, n, at, kind: "redeem", decision: "ALLOW", code: null, inputs: { kind: "redeem", tool: "t", action }, details: { labels, ...(effect ? { effect } : {}) } };
    return `${b64({ alg: "EdDSA", typ: "baton-receipt+jwt" })}.${b64(claims)}.c2ln`;
  }

  it("duplicate deliveries do not duplicate signals; a flow split across sequences delivered out of order is still found", async () => {
    const { env } = await import("cloudflare:workers");
    const scope = `actor:${newActor()}`;
    const analyst = env.ANALYSTS.get(env.ANALYSTS.idFromName(scope));
    const t = Date.now() - 60_000;
    const a = "a".repeat(64);
    const b = "b".repeat(64);
    // Sequence B (the public write, later in time) arrives first; A (the restricted read) after it.
    const seqB = [receipt(b, 0, t + 10_000, "", []), receipt(b, 1, t + 11_000, "publish", ["public"], "write")];
    const seqA = [receipt(a, 0, t, "", []), receipt(a, 1, t + 1_000, "read", ["restricted"], "read")];
    expect(await analyst.ingest({ scope, seq: b, receipts: seqB })).toEqual({ through: 1 });
    expect((await analyst.list({ scope })).filter((s) => s.detector === "flow.restricted-to-public")).toHaveLength(0);
    expect(await analyst.ingest({ scope, seq: a, receipts: seqA })).toEqual({ through: 1 });
    const flows = (await analyst.list({ scope })).filter((s) => s.detector === "flow.restricted-to-public");
    expect(flows).toHaveLength(1);
    // At least once means twice sometimes: the same receipts again change nothing.
    await analyst.ingest({ scope, seq: a, receipts: seqA });
    await analyst.ingest({ scope, seq: b, receipts: seqB });
    expect((await analyst.list({ scope })).filter((s) => s.detector === "flow.restricted-to-public")).toHaveLength(1);
    // A gap waits for the missing receipt: n=3 without n=2 is not taken.
    expect(await analyst.ingest({ scope, seq: a, receipts: [receipt(a, 3, t + 2_000, "read", [])] })).toEqual({ through: 1 });
  });

  it("deliveries of several sequences that arrive together are each taken and judged as if they came one by one", async () => {
    const { env } = await import("cloudflare:workers");
    const scope = `actor:${newActor()}`;
    const analyst = env.ANALYSTS.get(env.ANALYSTS.idFromName(scope));
    const t = Date.now() - 60_000;
    const seqs = ["c", "d", "e", "f"].map((ch) => ch.repeat(64));
    const [c, d, e, f] = seqs as [string, string, string, string];
    // Four sequences at once: a restricted read, the public write after it, an unrelated action,
    // and a delivery with a gap (n=2 without n=1), which must wait whatever arrives beside it.
    const answers = await Promise.all([
      analyst.ingest({ scope, seq: c, receipts: [receipt(c, 0, t, "", []), receipt(c, 1, t + 1_000, "read", ["restricted"], "read")] }),
      analyst.ingest({ scope, seq: d, receipts: [receipt(d, 0, t + 5_000, "", []), receipt(d, 1, t + 6_000, "publish", ["public"], "write")] }),
      analyst.ingest({ scope, seq: e, receipts: [receipt(e, 0, t + 2_000, "", []), receipt(e, 1, t + 3_000, "lookup", [])] }),
      analyst.ingest({ scope, seq: f, receipts: [receipt(f, 0, t + 2_000, "", []), receipt(f, 2, t + 4_000, "lookup", [])] }),
    ]);
    expect(answers).toEqual([{ through: 1 }, { through: 1 }, { through: 1 }, { through: 0 }]);
    const flows = (await analyst.list({ scope })).filter((s) => s.detector === "flow.restricted-to-public");
    expect(flows).toHaveLength(1);
    expect(await analyst.stored()).toMatchObject({ activity: 3, sequences: 3, pending: 0 });
  });
});
