import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { SEQUENCE_INDEX_NAME } from "../src/ledger/sequence-index-rules.js";
import { KEY, PARAMS, api, redeem, reportOutcome, until } from "./helpers.js";

// The analysts check that each delivered range starts where their last one ended. A start
// receipt is delivered to the sequence index alone (its run comes before any redeem); the
// analyst's cursor must not move past it silently, or every later delivery to the analyst
// would start past its cursor, be refused as a gap and retried for ever: no signal, ever,
// and a ledger alarm re-armed for each retry. (Found by the redeem benchmark's profile.)
async function cursors(seq: string) {
  const stub = env.SEQUENCES.get(env.SEQUENCES.idFromString(seq));
  return runInDurableObject(stub, async (_instance, state) =>
    state.storage.sql.exec<{ target: string; through: number; attempts: number }>("SELECT target, through, attempts FROM delivery").toArray(),
  );
}

// The receivers' own cursors: the ledger writes a redeliverable target's cursor with its next commit (outbox-memory.ts).
async function indexed(seq: string) {
  const stub = env.SEQUENCE_INDEX.get(env.SEQUENCE_INDEX.idFromName(SEQUENCE_INDEX_NAME));
  return runInDurableObject(stub, async (_i, state) => state.storage.sql.exec<{ through: number }>("SELECT through FROM sequences WHERE seq = ?", seq).toArray()[0]?.through);
}

async function analysed(actor: string, seq: string) {
  const stub = env.ANALYSTS.get(env.ANALYSTS.idFromName(`actor:${actor}`));
  return runInDurableObject(stub, async (_i, state) => state.storage.sql.exec<{ through: number }>("SELECT through FROM cursors WHERE seq = ?", seq).toArray()[0]?.through);
}

describe("the outbox keeps a continuous receiver's ranges contiguous", () => {
  it("a start delivered to the index alone, then the flow: the analyst takes every redeem and raises its signal", async () => {
    const actor = `continuity-agent-${crypto.randomUUID().slice(0, 8)}`;
    const started = await api("POST", "/v1/sequences", {
      key: KEY.orchestrator,
      body: { workflow: "report-publication", params: PARAMS["report-publication"], subject: "user:dana", actor },
    });
    expect(started.status).toBe(201);
    const seq = started.body.sequence as string;
    // The outbox has run after the start: the index took receipt 0, the analyst nothing yet.
    await until("the index to take the start", async () => ((await indexed(seq)) === 0 ? true : undefined));
    expect(await analysed(actor, seq)).toBeUndefined();

    const read = await redeem(KEY.warehouse, started.body.capability, "records.read", { dataset: "patients-2026" });
    const summarise = (await reportOutcome(KEY.warehouse, read.body.receipt, "succeeded")).body.capability;
    const summary = await redeem(KEY.model, summarise, "summary.create", {});
    const publish = (await reportOutcome(KEY.model, summary.body.receipt, "succeeded")).body.capability;
    const published = await redeem(KEY.dashboard, publish, "dashboard.publish", { dashboard: "public-stats" });
    expect(published.body).toMatchObject({ decision: "ALLOW", sealed: true });

    const signal = await until("the flow signal", async () => {
      const { body } = await api("GET", `/v1/signals?actor=${actor}`, { key: KEY.operator });
      return (body.signals as { detector: string }[]).find((s) => s.detector === "flow.restricted-to-public");
    });
    expect(signal).toBeDefined();
    // No retries on the ledger's side (a failing target's state is written at once), and the analyst took the chain to its seal.
    expect((await cursors(seq)).filter((c) => c.attempts > 0)).toEqual([]);
    expect(await analysed(actor, seq)).toBe(5);
  });
});
