import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { OUTBOX_STANDBY_MS } from "../src/ledger/outbox-runner.js";
import { SEQUENCE_INDEX_NAME } from "../src/ledger/sequence-index-rules.js";
import { KEY, PARAMS, api, until as untilEvery } from "./helpers.js";

// The outbox runs right after each commit; the alarm is only its standby (outbox-runner.ts).
// A run follows its commit within milliseconds: probes poll every 20 ms, for 2 s at most.
const until = <T>(what: string, probe: () => Promise<T | undefined>) => untilEvery(what, probe, 20);
const ledger = (seq: string) => env.SEQUENCES.get(env.SEQUENCES.idFromString(seq));
const index = () => env.SEQUENCE_INDEX.get(env.SEQUENCE_INDEX.idFromName(SEQUENCE_INDEX_NAME));

async function indexRow(seq: string) {
  return runInDurableObject(index(), async (_i, state) =>
    state.storage.sql.exec<{ stage: string; through: number }>("SELECT stage, through FROM sequences WHERE seq = ?", seq).toArray()[0],
  );
}

/** Ends the ledger's instance (ctx.abort): its next event meets a new one, which knows only what SQL holds. */
async function restart(seq: string) {
  await runInDurableObject(ledger(seq), async (_i, state) => {
    state.abort("restart");
  }).catch(() => undefined);
}

async function startDeployment() {
  const started = await api("POST", "/v1/sequences", {
    key: KEY.orchestrator,
    body: { workflow: "deployment", params: PARAMS.deployment, subject: "user:alice", actor: "agent-7" },
  });
  expect(started.status).toBe(201);
  return { seq: started.body.sequence as string, capability: started.body.capability as string };
}

/** The orchestrator that started the sequence, as the ledger knows its caller (examples/dev-credentials.json). */
const ORCHESTRATOR = { role: "orchestrator", id: "orchestrator" };

async function alarmOf(seq: string) {
  return runInDurableObject(ledger(seq), (_i, state) => state.storage.getAlarm());
}

describe("the outbox runs after each commit; the alarm stands by until the run delivered everything", () => {
  it("a commit arms the standby with its receipt; the run after it delivers and deletes it, with no alarm run", async () => {
    const { seq } = await startDeployment();
    await until("the index row", () => indexRow(seq));
    // The start's run delivered everything: the standby is gone, so this sequence wakes no more.
    await until("the start's standby deleted", async () => ((await alarmOf(seq)) === null ? true : undefined));

    // Seen from inside the object: the revoke's commit armed the standby before its run could deliver.
    const before = Date.now();
    const armed = await runInDurableObject(ledger(seq), async (instance, state) => {
      const answer = await instance.revoke({ caller: ORCHESTRATOR, reason: "standby test" });
      return { kind: answer.kind, alarm: await state.storage.getAlarm() };
    });
    expect(armed.kind).toBe("decided");
    expect(armed.alarm).not.toBeNull();
    expect(armed.alarm!).toBeGreaterThanOrEqual(before + OUTBOX_STANDBY_MS);
    expect(armed.alarm!).toBeLessThanOrEqual(Date.now() + OUTBOX_STANDBY_MS);
    // No runDurableObjectAlarm: the run after the commit took the seal to the index, then deleted the standby.
    expect(await until("the seal indexed", async () => ((await indexRow(seq))?.through === 1 ? true : undefined))).toBe(true);
    await until("the revoke's standby deleted", async () => ((await alarmOf(seq)) === null ? true : undefined));
  });

  it("what a lost run did not deliver, the standby alarm delivers from what SQL holds, in a new instance", async () => {
    const { seq } = await startDeployment();
    await until("the index row", () => indexRow(seq));
    await until("the standby deleted", async () => ((await alarmOf(seq)) === null ? true : undefined));
    // As if the object had restarted between its commit and its run: the index never heard of
    // the sequence, the cursor is where it began, and the standby armed with the receipt is set.
    await runInDurableObject(index(), async (_i, state) => {
      state.storage.sql.exec("DELETE FROM sequences WHERE seq = ?", seq);
    });
    await runInDurableObject(ledger(seq), async (_i, state) => {
      state.storage.sql.exec("DELETE FROM delivery WHERE target = 'index'");
      await state.storage.setAlarm(Date.now() + OUTBOX_STANDBY_MS);
    });
    await restart(seq);
    expect(await indexRow(seq)).toBeUndefined();
    expect(await runDurableObjectAlarm(ledger(seq))).toBe(true);
    expect(await until("the index row again", () => indexRow(seq))).toMatchObject({ through: 0 });
  });

  it("a target that fails keeps an alarm: its retry, not the standby's deletion", async () => {
    const { seq } = await startDeployment();
    await until("the standby deleted", async () => ((await alarmOf(seq)) === null ? true : undefined));
    // The index refuses (its table gone for a moment): the revoke's run fails and must leave an alarm set to its retry.
    await runInDurableObject(index(), async (_i, state) => {
      state.storage.sql.exec("ALTER TABLE sequences RENAME TO sequences_away");
    });
    try {
      await runInDurableObject(ledger(seq), (instance) => instance.revoke({ caller: ORCHESTRATOR, reason: "retry test" }));
      const retry = await until("the failed delivery recorded", () =>
        runInDurableObject(ledger(seq), async (_i, state) =>
          state.storage.sql.exec<{ attempts: number }>("SELECT attempts FROM delivery WHERE target = 'index'").toArray()[0]?.attempts ? true : undefined,
        ),
      );
      expect(retry).toBe(true);
      expect(await alarmOf(seq)).not.toBeNull();
    } finally {
      await runInDurableObject(index(), async (_i, state) => {
        state.storage.sql.exec("ALTER TABLE sequences_away RENAME TO sequences");
      });
    }
    expect(await runDurableObjectAlarm(ledger(seq))).toBe(true);
    expect(await until("the seal indexed after the retry", async () => ((await indexRow(seq))?.through === 1 ? true : undefined))).toBe(true);
    await until("no alarm once delivered", async () => ((await alarmOf(seq)) === null ? true : undefined));
  });
});
