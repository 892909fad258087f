import { type DeliveryTarget, deliverOutbox } from "./outbox.js";
import { OutboxMemory } from "./outbox-memory.js";
import type { OutboxRow } from "./outbox-store.js";

/**
 * The longest a committed receipt can wait for its targets when the run right after
 * its commit did not happen (the object was evicted or restarted first): the standby
 * alarm's distance.
 */
export const OUTBOX_STANDBY_MS = 30_000;

/**
 * Runs the ledger's outbox right after each commit that some target wants, and from
 * the alarm, one run at a time (a commit during a run asks for another).
 *
 * Why not an alarm per commit, as before: each one was a write to arm it, a wake-up,
 * a reload and a write to clear it, for every state change — most of what an advance
 * cost beyond its decision. Now the commit arms a standby alarm only when none is set
 * (so a busy sequence arms one per OUTBOX_STANDBY_MS, not one per receipt), the run
 * after the commit delivers, and the standby, when it fires, finds nothing left or
 * delivers what a lost run did not: at least once, as before. A failing target's
 * retry (its backoff) and a full page still set the alarm to when they are due.
 * Once a run has delivered everything, the standby is deleted: otherwise it would wake
 * the sequence once more, in a new instance by then. What a run reads and writes goes
 * through OutboxMemory: no SQL on the way when the instance committed the receipts
 * itself, and a redeliverable target's cursor is written late (outbox-memory.ts).
 */
export class OutboxRunner {
  readonly #storage: DurableObjectStorage;
  readonly #memory: OutboxMemory;
  readonly #targets: () => Promise<readonly DeliveryTarget[] | null>;
  #known: readonly DeliveryTarget[] | null = null;
  #running: Promise<void> | null = null;
  #again = false;

  /** `targets`: this sequence's targets, or null before it exists (asked until it exists: they do not change after). */
  constructor(storage: DurableObjectStorage, targets: () => Promise<readonly DeliveryTarget[] | null>) {
    this.#storage = storage;
    this.#memory = new OutboxMemory(storage.sql);
    this.#targets = targets;
  }

  /**
   * In the commit's synchronous section, before it: the cursors a run moved and has not
   * written yet (it ended with a target still failing) go into this commit's transaction.
   */
  beforeCommit(): void {
    this.#memory.writeLate();
  }

  /** Every commit's receipt, right after it (the memory keeps them gap-free to the head). */
  committed(row: OutboxRow): void {
    this.#memory.committed(row);
  }

  /** Sets the alarm to `at` unless one is already set no later. */
  async #armBy(at: number): Promise<void> {
    const armed = await this.#storage.getAlarm();
    if (armed === null || armed > at) await this.#storage.setAlarm(at);
  }

  /**
   * After a commit, in its synchronous section: arms the standby and starts a run (not awaited)
   * when a target other than the analysts wants the receipt, and answers the analysts'
   * hand-over, which the gate's answer waits for. An allowed redeem is answered once the
   * analysts took it, and one no other target wants (the gate's usual case) arms no standby.
   * Why nothing is lost without one: the tool acts only on the answer, so a receipt whose
   * hand-over a crash cut short was never acted on (the agent's retry is a replay, refused);
   * its cursor did not move, so the sequence's next commit hands it over all the same. And
   * the signals a later decision consults include every action answered before it: an agent
   * cannot outrun its own analysis.
   */
  async afterCommit(wanted: { analysts: boolean; others: boolean }, now: number): Promise<Promise<void> | null> {
    // In the commit's synchronous section, so the standby is written with the receipt.
    if (wanted.others) await this.#armBy(now + OUTBOX_STANDBY_MS);
    const handover = wanted.analysts ? this.deliverToAnalysts() : null;
    if (wanted.others) {
      const run = handover ? handover.then(() => this.run()) : this.run();
      run.catch((error) => console.error("outbox run failed; the alarm retries", error));
    }
    return handover;
  }

  /**
   * Hands the receipts the analysts have not taken to them, now, and resolves once they took
   * them or the delivery failed (never rejects; a failure's retry is the alarm's, at its
   * backoff). For a receipt only the analysts want (an allowed redeem that changes nothing
   * else), awaited before the gate answers, instead of a standby armed with it (afterCommit).
   * The analysts ignore a range they already took, so a run beside this one costs a call.
   */
  async deliverToAnalysts(): Promise<void> {
    try {
      this.#known ??= await this.#targets();
      const analysts = this.#known?.filter((t) => t.continuous) ?? [];
      if (analysts.length === 0) return;
      const next = await deliverOutbox(this.#memory, analysts, Date.now());
      if (!next) return;
      await this.#armBy(next.at);
    } catch (error) {
      // The cursors did not move: the next commit's run, or the alarm if one is set, hands them over.
      console.error("delivery to the analysts failed", error);
    }
  }

  /** Delivers now (or once more after the run in progress); resolves when that run ends. */
  run(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = this.#loop().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  async #loop(): Promise<void> {
    do {
      this.#again = false;
      this.#known ??= await this.#targets();
      const targets = this.#known;
      if (!targets) return;
      const next = await deliverOutbox(this.#memory, targets, Date.now());
      // A commit while this run was out asked for another run, which decides then.
      if (this.#again) continue;
      if (!next) {
        // Everything delivered: the standby is not needed. Deleted with the cursors' write
        // (one commit), or it would wake this sequence later to find nothing — a new
        // instance by then (wrangler dev evicts an idle object within 30 s), whose wake,
        // reads and redelivery cost more than the decision did.
        this.#memory.writeLate();
        await this.#storage.deleteAlarm();
        continue;
      }
      await this.#armBy(next.at);
    } while (this.#again);
  }
}
