import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { KEY, PARAMS, api, claimsOf, redeem, reportOutcome, until } from "./helpers.js";

// An allowed redeem is answered once the actor's analyst took it (sequence-ledger.ts,
// #analysisBeforeAnswer): no standby alarm for it, and no way for an agent to act faster
// than its own analysis. Each check below is made right after the answer, with no waiting.
const ledger = (seq: string) => env.SEQUENCES.get(env.SEQUENCES.idFromString(seq));
const analyst = (actor: string) => env.ANALYSTS.get(env.ANALYSTS.idFromName(`actor:${actor}`));

async function analysedThrough(actor: string, seq: string) {
  return runInDurableObject(analyst(actor), async (_i, state) =>
    state.storage.sql.exec<{ through: number }>("SELECT through FROM cursors WHERE seq = ?", seq).toArray()[0]?.through,
  );
}

async function startFlow(actor: string) {
  const started = await api("POST", "/v1/sequences", {
    key: KEY.orchestrator,
    body: { workflow: "report-publication", params: PARAMS["report-publication"], subject: "user:dana", actor },
  });
  expect(started.status).toBe(201);
  const seq = started.body.sequence as string;
  // The start's own run (the index) deletes its standby; from here on any alarm is the redeem's.
  await until("the start's standby deleted", async () => ((await runInDurableObject(ledger(seq), (_i, s) => s.storage.getAlarm())) === null ? true : undefined));
  return { seq, capability: started.body.capability as string };
}

describe("an allowed redeem is analysed before it is answered", () => {
  it("the analyst holds the action when the tool gets its ALLOW, and the ledger has no alarm armed for it", async () => {
    const actor = `before-answer-${crypto.randomUUID().slice(0, 8)}`;
    const { seq, capability } = await startFlow(actor);
    // The analyst is busy for a while (blockConcurrencyWhile holds every call to it): an ALLOW
    // that came back before the analyst was free would be an action the analysis had not seen.
    let analystFree = false;
    const busy = runInDurableObject(analyst(actor), (_i, state) =>
      state.blockConcurrencyWhile(async () => {
        await new Promise((resolve) => setTimeout(resolve, 300));
        analystFree = true;
      }),
    );
    const read = await redeem(KEY.warehouse, capability, "records.read", { dataset: "patients-2026" });
    expect(read.body.decision).toBe("ALLOW");
    expect(analystFree).toBe(true);
    expect(await runInDurableObject(ledger(seq), (_i, state) => state.storage.getAlarm())).toBeNull();
    await busy;
    expect(await analysedThrough(actor, seq)).toBe(claimsOf(read.body.receipt).n);
  });

  it("an agent cannot outrun its analysis: the flow's signal is listed the moment the public write is answered", async () => {
    const actor = `outrun-${crypto.randomUUID().slice(0, 8)}`;
    const { capability } = await startFlow(actor);
    const read = await redeem(KEY.warehouse, capability, "records.read", { dataset: "patients-2026" });
    const summarise = (await reportOutcome(KEY.warehouse, read.body.receipt, "succeeded")).body.capability;
    const summary = await redeem(KEY.model, summarise, "summary.create", {});
    const publish = (await reportOutcome(KEY.model, summary.body.receipt, "succeeded")).body.capability;
    const published = await redeem(KEY.dashboard, publish, "dashboard.publish", { dashboard: "public-stats" });
    expect(published.body).toMatchObject({ decision: "ALLOW", sealed: true });
    const { body } = await api("GET", `/v1/signals?actor=${actor}`, { key: KEY.operator });
    expect((body.signals as { detector: string }[]).map((s) => s.detector)).toContain("flow.restricted-to-public");
  });

  it("an analyst that fails does not hold the gate: ALLOW all the same, the failure recorded, an alarm to retry, and the retry delivers", async () => {
    const actor = `failing-analyst-${crypto.randomUUID().slice(0, 8)}`;
    const { seq, capability } = await startFlow(actor);
    // The analyst refuses for a moment (its cursors table gone): the hand-over fails.
    await runInDurableObject(analyst(actor), async (_i, state) => {
      state.storage.sql.exec("ALTER TABLE cursors RENAME TO cursors_away");
    });
    let n: number;
    try {
      const read = await redeem(KEY.warehouse, capability, "records.read", { dataset: "patients-2026" });
      expect(read.body.decision).toBe("ALLOW");
      n = claimsOf(read.body.receipt).n;
      const failed = await runInDurableObject(ledger(seq), async (_i, state) => ({
        attempts: state.storage.sql.exec<{ attempts: number }>("SELECT attempts FROM delivery WHERE target = ?", `actor:${actor}`).toArray()[0]?.attempts,
        alarm: await state.storage.getAlarm(),
      }));
      expect(failed.attempts).toBe(1);
      expect(failed.alarm).not.toBeNull();
    } finally {
      await runInDurableObject(analyst(actor), async (_i, state) => {
        state.storage.sql.exec("ALTER TABLE cursors_away RENAME TO cursors");
      });
    }
    // The alarm fires at the retry's time (the first backoff, 2 s) and hands the action over.
    expect(await until("the retry's delivery", async () => ((await analysedThrough(actor, seq)) === n ? true : undefined))).toBe(true);
    await until("no alarm once delivered", async () => ((await runInDurableObject(ledger(seq), (_i, s) => s.storage.getAlarm())) === null ? true : undefined));
  });
});
