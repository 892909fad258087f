import { env, runInDurableObject } from "cloudflare:test";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ActivityIndex } from "../src/analysis/activity-index.js";
import { type ActivityEvent, type Detector, DetectorSchema, compareEvents, detect } from "../src/analysis/detectors.js";
import { type DeliveredReceipt, activityOf, takeDelivery } from "../src/analysis/intake.js";
import type { ReceiptClaims } from "../src/tokens/receipt.js";

// Small windows and thresholds, so that a few dozen actions reach every rule.
const DETECTORS: Detector[] = [
  { id: "flow.r2p", version: 1, kind: "flow", from: "restricted", to: "public", window_seconds: 8 },
  { id: "rate.a1", version: 1, kind: "rate", action: "a1", max: 2, window_seconds: 3 },
  { id: "rate.any", version: 1, kind: "rate", max: 3, window_seconds: 2 },
  { id: "novelty.pair", version: 1, kind: "novelty", sequences: 2 },
].map((d) => DetectorSchema.parse(d));
const GRACE_MS = 4_000;
const T0 = Date.UTC(2026, 11, 1, 12);

type Raised = Map<string, { detector: string; receipts: string[] }>;

/**
 * The semantics the analyst had before the incremental index, as a model: each
 * delivery re-runs every detector over the whole timeline from its earliest new
 * action on, each action against everything known before it; a key is raised once.
 */
class TimelineModel {
  readonly #known: ActivityEvent[] = [];
  readonly #cursors = new Map<string, number>();
  readonly raised: Raised = new Map();

  deliver(seq: string, receipts: readonly DeliveredReceipt[]): void {
    let through = this.#cursors.get(seq) ?? -1;
    const fresh: ActivityEvent[] = [];
    for (const { claims, hash } of receipts) {
      if (claims.n <= through) continue;
      if (claims.n !== through + 1) break;
      through = claims.n;
      const event = activityOf(claims, hash);
      if (event) fresh.push(event);
    }
    this.#cursors.set(seq, through);
    if (fresh.length === 0) return;
    this.#known.push(...fresh);
    this.#known.sort(compareEvents);
    const earliest = Math.min(...fresh.map((e) => e.at));
    for (const [index, event] of this.#known.entries()) {
      if (event.at < earliest) continue;
      for (const f of detect(DETECTORS, this.#known.slice(0, index), event)) {
        if (!this.raised.has(f.key)) this.raised.set(f.key, { detector: f.detector.id, receipts: f.receipts });
      }
    }
  }
}

/** The timeline semantics over a complete history: every key `detect()` raises, in timeline order. */
class TimelineFindings {
  constructor(readonly detectors: Detector[]) {}
  of(events: ActivityEvent[]): string[] {
    const timeline = [...events].sort(compareEvents);
    const keys = timeline.flatMap((e, i) => detect(this.detectors, timeline.slice(0, i), e).map((f) => f.key));
    return [...new Set(keys)];
  }
}

interface Step {
  tool: string;
  action: string;
  labels: string[];
  effect: "read" | "write" | null;
  allowed: boolean;
  gap: number;
  delay: number;
  flush: boolean;
  redeliver: number;
  gapped: boolean;
}

const stepArb = fc.record({
  tool: fc.constantFrom("t1", "t2"),
  action: fc.constantFrom("a1", "a2", "a3"),
  labels: fc.subarray(["restricted", "public"]),
  effect: fc.constantFrom("read", "write", null),
  allowed: fc.integer({ min: 0, max: 9 }).map((x) => x > 0), // mostly allowed
  gap: fc.integer({ min: 0, max: 1_500 }),
  delay: fc.integer({ min: 0, max: GRACE_MS - 1 }),
  flush: fc.boolean(),
  redeliver: fc.integer({ min: 0, max: 2 }),
  gapped: fc.boolean(),
}) satisfies fc.Arbitrary<Step>;

const sequenceArb = fc.record({
  start: fc.integer({ min: 0, max: 12_000 }),
  startDelay: fc.integer({ min: 0, max: GRACE_MS - 1 }),
  steps: fc.array(stepArb, { minLength: 1, maxLength: 7 }),
});

const SEQ_IDS = ["0a", "1b", "2c", "3d", "4e", "5f", "6a", "7b"];

function claims(seq: string, n: number, at: number, step?: Step): ReceiptClaims {
  const redeem = step !== undefined;
  return {
    seq,
    n,
    at,
    kind: redeem ? "redeem" : "start",
    decision: !redeem || step.allowed ? "ALLOW" : "DENY",
    code: null,
    inputs: redeem ? { kind: "redeem", tool: step.tool, action: step.action } : { kind: "start" },
    details: redeem ? { labels: step.labels, ...(step.effect ? { effect: step.effect } : {}) } : {},
  } as unknown as ReceiptClaims;
}

/**
 * Each sequence's receipts (a start, then redeems), each arriving up to the
 * grace after it happened, in order per sequence; the ledgers' deliveries
 * interleave by arrival, sometimes batched, sometimes repeating receipts
 * already delivered, sometimes with a gap that the analyst must refuse first.
 */
function deliveries(sequences: { start: number; startDelay: number; steps: Step[] }[]) {
  const arrivals: { seq: string; receipt: DeliveredReceipt; arrival: number; step: Step | undefined }[] = [];
  sequences.forEach((s, i) => {
    const seq = SEQ_IDS[i] as string;
    let at = T0 + s.start;
    let arrival = at + s.startDelay;
    arrivals.push({ seq, receipt: { claims: claims(seq, 0, at), hash: `r-${seq}-0` }, arrival, step: undefined });
    s.steps.forEach((step, k) => {
      at += step.gap;
      arrival = Math.max(arrival, at + step.delay);
      arrivals.push({ seq, receipt: { claims: claims(seq, k + 1, at, step), hash: `r-${seq}-${k + 1}` }, arrival, step });
    });
  });
  arrivals.sort((a, b) => a.arrival - b.arrival || (a.seq < b.seq ? -1 : 1) || a.receipt.claims.n - b.receipt.claims.n);
  const all = new Map<string, DeliveredReceipt[]>();
  const pending = new Map<string, DeliveredReceipt[]>();
  const out: { seq: string; receipts: DeliveredReceipt[] }[] = [];
  const last = new Map(arrivals.map((a) => [a.seq, a.receipt.claims.n]));
  for (const a of arrivals) {
    const sent = all.get(a.seq) ?? [];
    all.set(a.seq, [...sent, a.receipt]);
    const batch = [...(pending.get(a.seq) ?? []), a.receipt];
    pending.set(a.seq, batch);
    const flush = a.step === undefined || a.step.flush || a.receipt.claims.n === last.get(a.seq);
    if (!flush) continue;
    if (a.step?.gapped && batch.length > 1) out.push({ seq: a.seq, receipts: batch.slice(1) }); // the first is missing: refused
    const again = sent.slice(Math.max(0, sent.length - (batch.length - 1) - (a.step?.redeliver ?? 0)), sent.length - (batch.length - 1));
    out.push({ seq: a.seq, receipts: [...again, ...batch] });
    pending.set(a.seq, []);
  }
  return out;
}

/** A receipt as a ledger would deliver it (the analyst reads claims; its only caller is the ledger). */
function jws(c: ReceiptClaims): string {
  const b64 = (value: unknown) => btoa(JSON.stringify(value)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  return `${b64({ alg: "EdDSA", typ: "baton-receipt+jwt" })}.${b64(c)}.c2ln`;
}

async function inAnalyst<T>(name: string, work: (sql: SqlStorage) => T): Promise<T> {
  const stub = env.ANALYSTS.get(env.ANALYSTS.idFromName(`actor:${name}-${crypto.randomUUID()}`));
  return runInDurableObject(stub, (_instance, state) => work(state.storage.sql));
}

function take(sql: SqlStorage, index: ActivityIndex, raised: Raised, delivery: { seq: string; receipts: DeliveredReceipt[] }) {
  const { findings } = takeDelivery(sql, index, DETECTORS, delivery.seq, delivery.receipts, { graceMs: GRACE_MS });
  for (const f of findings) {
    // A key is raised once: never again by a repeat, a gap or a re-judgement.
    expect(raised.has(f.key), `raised twice: ${f.key}`).toBe(false);
    raised.set(f.key, { detector: f.detector.id, receipts: f.receipts });
  }
}

const sorted = (raised: Raised) => [...raised.entries()].sort(([a], [b]) => (a < b ? -1 : 1));

describe("the analyst's incremental index", () => {
  it("finds exactly what the timeline semantics find, over random interleavings, repeats and gaps within the grace", async () => {
    const rules = new Set<string>();
    await fc.assert(
      fc.asyncProperty(fc.array(sequenceArb, { minLength: 1, maxLength: 5 }), async (sequences) => {
        const plan = deliveries(sequences);
        const model = new TimelineModel();
        for (const d of plan) model.deliver(d.seq, d.receipts);
        const raised: Raised = new Map();
        await inAnalyst("prop", (sql) => {
          const index = new ActivityIndex(sql);
          for (const d of plan) take(sql, index, raised, d);
          // Every finding waits in the outbox for signing: none is only in memory.
          const pending = sql.exec<{ key: string }>("SELECT key FROM pending_findings").toArray().map((r) => r.key);
          expect(pending.sort()).toEqual([...raised.keys()].sort());
        });
        expect(sorted(raised)).toEqual(sorted(model.raised));
        for (const { detector } of raised.values()) rules.add(detector);
      }),
      { numRuns: 150, seed: 20261201 },
    );
    // The generated histories reached every detector (else the property would prove little).
    expect([...rules].sort()).toEqual(DETECTORS.map((d) => d.id).sort());
  });

  it("pruning never drops an action a detector still needs: a pruned index finds what an unpruned one finds", async () => {
    let removed = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(sequenceArb, { minLength: 4, maxLength: SEQ_IDS.length }), fc.integer({ min: 1, max: 5 }), async (sequences, batch) => {
        // Spread the sequences far apart, so that the earlier ones leave every window.
        const spread = sequences.map((s, i) => ({ ...s, start: s.start + i * 25_000 }));
        const plan = deliveries(spread);
        const full: Raised = new Map();
        const pruned: Raised = new Map();
        await inAnalyst("unpruned", (sql) => {
          const index = new ActivityIndex(sql);
          for (const d of plan) take(sql, index, full, d);
        });
        await inAnalyst("pruned", (sql) => {
          const index = new ActivityIndex(sql);
          for (const d of plan) {
            take(sql, index, pruned, d);
            const before = index.size().activity;
            while (index.prune(DETECTORS, GRACE_MS, batch)) {}
            removed += before - index.size().activity;
          }
        });
        expect(sorted(pruned)).toEqual(sorted(full));
      }),
      { numRuns: 60, seed: 7 },
    );
    expect(removed).toBeGreaterThan(200);
  });

  it("a late action is judged over windows that reach back past the grace: the action before a burst keeps its own window", async () => {
    const rate = DETECTORS.filter((d) => d.id === "rate.a1"); // max 2 within 3 s
    const T = T0 + 60_000;
    const act = (seq: string, at: number, action = "a1"): ActivityEvent => ({ seq, n: 1, receipt: `r-${seq}`, at, tool: "t1", action, labels: [], effect: null });
    await inAnalyst("late-burst", (sql) => {
      const index = new ActivityIndex(sql);
      const raised: string[] = [];
      const add = (e: ActivityEvent) => {
        const found = index.add([e], rate, GRACE_MS);
        index.record(found);
        raised.push(...found.map((f) => f.key));
        while (index.prune(rate, GRACE_MS)) {}
      };
      // A burst: T-6.8 s takes the window over 2, T-5 s is still inside it.
      for (const [seq, at] of [["p1", T - 9_700], ["p2", T - 8_000], ["p3", T - 6_800], ["p4", T - 5_000]] as const) add(act(seq, at));
      expect(raised).toEqual(["rate.a1:r-p1"]);
      add(act("later", T, "a2"));
      // 3.9 s late, within the grace: its window holds 3, but the action before it (T-5 s) was
      // already over 2 in its own window, which reaches back to T-8 s: the same burst, no new signal.
      add(act("late", T - 3_900));
      expect(raised).toEqual(["rate.a1:r-p1"]);
      expect(new TimelineFindings(rate).of([["p1", T - 9_700], ["p2", T - 8_000], ["p3", T - 6_800], ["p4", T - 5_000], ["late", T - 3_900]].map(([seq, at]) => act(seq as string, at as number)))).toEqual(["rate.a1:r-p1"]);
    });
  });

  it("keeps only what the windows need: rows stay bounded however long the history", async () => {
    await inAnalyst("bounded", (sql) => {
      const index = new ActivityIndex(sql);
      const detectors = DETECTORS.filter((d) => d.kind !== "flow");
      const sizes: number[] = [];
      const sequences: number[] = [];
      for (let i = 0; i < 3_000; i++) {
        const seq = `s${String(i).padStart(5, "0")}`;
        index.add([{ seq, n: 1, receipt: `r${i}`, at: T0 + i * 100, tool: "t1", action: i % 2 ? "a1" : "a2", labels: [], effect: null }], detectors, GRACE_MS);
        if (i % 100 === 99) {
          while (index.prune(detectors, GRACE_MS)) {}
          sizes.push(index.size().activity);
          sequences.push(index.size().sequences);
        }
      }
      // 100 ms apart: the grace (4 s) plus twice the longest rate window (3 s) hold 101 actions
      // (novelty's last sequences are among them); the same after 300 as after 3,000 actions.
      expect(Math.max(...sizes)).toBeLessThanOrEqual(101);
      expect(Math.max(...sequences)).toBeLessThanOrEqual(101);
      expect(sizes.at(-1)).toBe(sizes[2]);
    });
  });

  it("a ranged delivery (the ledger sends only allowed redeems) moves the cursor over the receipts it leaves out, and waits at a gap", async () => {
    const scope = `actor:ranged-${crypto.randomUUID()}`;
    const analyst = env.ANALYSTS.get(env.ANALYSTS.idFromName(scope));
    const seq = "c".repeat(64);
    const read = (n: number, at: number) => jws(claims(seq, n, at, { tool: "t1", action: "a1", labels: [], effect: "read", allowed: true, gap: 0, delay: 0, flush: true, redeliver: 0, gapped: false }));
    // n=0 (start) and n=1 (an evidence receipt, say) are not sent; n=2 is.
    expect(await analyst.ingest({ scope, seq, after: -1, through: 2, receipts: [read(2, T0)] })).toEqual({ through: 2 });
    // Past a gap (after 5, but only 2 taken): refused, the cursor stays.
    expect(await analyst.ingest({ scope, seq, after: 5, through: 7, receipts: [read(7, T0 + 10)] })).toEqual({ through: 2 });
    // The same range again: nothing new, the cursor stays.
    expect(await analyst.ingest({ scope, seq, after: -1, through: 2, receipts: [read(2, T0)] })).toEqual({ through: 2 });
    expect(await analyst.ingest({ scope, seq, after: 2, through: 7, receipts: [read(7, T0 + 10)] })).toEqual({ through: 7 });
    expect((await analyst.stored()).activity).toBe(2);
  });

  it("the signals listing pages the signed log, so a read costs the same however long the log grows", async () => {
    const scope = `actor:paged-${crypto.randomUUID()}`;
    const analyst = env.ANALYSTS.get(env.ANALYSTS.idFromName(scope));
    // Three public writes after one restricted read: three flow signals, three "emitted" entries.
    const seq = "d".repeat(64);
    const step = (labels: string[], effect: "read" | "write") => ({ tool: "t1", action: "a1", labels, effect, allowed: true, gap: 0, delay: 0, flush: true, redeliver: 0, gapped: false });
    const receipts = [jws(claims(seq, 0, T0)), jws(claims(seq, 1, T0 + 1, step(["restricted"], "read")))];
    for (let n = 2; n <= 4; n++) receipts.push(jws(claims(seq, n, T0 + n, step(["public"], "write"))));
    await analyst.ingest({ scope, seq, receipts });
    const all = await analyst.log({ after: -1 });
    expect(all).toHaveLength(3);
    expect(await analyst.log({ limit: 1 })).toEqual(all.slice(-1));
    expect(await analyst.log({ after: 0, limit: 1 })).toEqual(all.slice(1, 2));
    // A cleared signal stays in the hot table until it expires, but not among those in force.
    const [first] = await analyst.list({ scope });
    await analyst.act({ scope, id: first?.id ?? "", action: "clear", operator: "ops" });
    expect((await analyst.list({ scope })).length).toBe(3);
    expect((await analyst.list({ scope, inForce: true })).map((x) => x.id)).not.toContain(first?.id);
    expect((await analyst.list({ scope, inForce: true })).length).toBe(2);
  });
});
