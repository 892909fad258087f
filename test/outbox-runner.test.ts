import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { OUTBOX_STANDBY_MS } from "../src/ledger/outbox-runner.js";
import { SEQUENCE_INDEX_NAME } from "../src/ledger/sequence-index-rules.js";
import { KEY, PARAMS, api, redeem } from "./helpers.js";

// The outbox runs right after each commit; the alarm is only its standby (outbox-runner.ts).
const ledger = (seq: string) => env.SEQUENCES.get(env.SEQUENCES.idFromString(seq));
const index = () => env.SEQUENCE_INDEX.get(env.SEQUENCE_INDEX.idFromName(SEQUENCE_INDEX_NAME));

async function indexRow(seq: string) {
  return runInDurableObject(index(), async (_i, state) =>
    state.storage.sql.exec<{ stage: string; through: number }>("SELECT stage, through FROM sequences WHERE seq = ?", seq).toArray()[0],
  );
}

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 100; i++) {
    const found = await probe();
    if (found !== undefined) return found;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function startDeployment() {
  const started = await api("POST", "/v1/sequences", {
    key: KEY.orchestrator,
    body: { workflow: "deployment", params: PARAMS.deployment, subject: "user:alice", actor: "agent-7" },
  });
  expect(started.status).toBe(201);
  return { seq: started.body.sequence as string, capability: started.body.capability as string };
}

describe("the outbox runs after each commit; the alarm stands by", () => {
  it("a start reaches the index with no alarm run, and the standby is armed with the receipt, once", async () => {
    const before = Date.now();
    const { seq, capability } = await startDeployment();
    // No runDurableObjectAlarm: the run after the commit delivered it.
    expect(await until("the index row", () => indexRow(seq))).toMatchObject({ through: 0 });
    const armed = await runInDurableObject(ledger(seq), (_i, state) => state.storage.getAlarm());
    expect(armed).not.toBeNull();
    expect(armed!).toBeGreaterThanOrEqual(before + OUTBOX_STANDBY_MS);
    expect(armed!).toBeLessThanOrEqual(Date.now() + OUTBOX_STANDBY_MS);
    // A second commit some target wants (the canary redeem goes to the actor's analyst) leaves the standby where it is.
    expect((await redeem(KEY.deployer, capability, "deploy.canary", { ...PARAMS.deployment, percent: 5 })).status).toBe(200);
    expect(await runInDurableObject(ledger(seq), (_i, state) => state.storage.getAlarm())).toBe(armed);
  });

  it("what a lost run did not deliver, the standby alarm delivers", async () => {
    const { seq } = await startDeployment();
    await until("the index row", () => indexRow(seq));
    // As if the object had restarted before its run: the index never heard of it, the cursor is where it began.
    await runInDurableObject(index(), async (_i, state) => {
      state.storage.sql.exec("DELETE FROM sequences WHERE seq = ?", seq);
    });
    await runInDurableObject(ledger(seq), async (_i, state) => {
      state.storage.sql.exec("DELETE FROM delivery WHERE target = 'index'");
    });
    expect(await indexRow(seq)).toBeUndefined();
    expect(await runDurableObjectAlarm(ledger(seq))).toBe(true);
    expect(await until("the index row again", () => indexRow(seq))).toMatchObject({ through: 0 });
  });
});
