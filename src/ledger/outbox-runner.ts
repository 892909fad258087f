import { type DeliveryTarget, deliverOutbox } from "./outbox.js";

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
 */
export class OutboxRunner {
  readonly #storage: DurableObjectStorage;
  readonly #targets: () => Promise<readonly DeliveryTarget[] | null>;
  #running: Promise<void> | null = null;
  #again = false;

  /** `targets`: this sequence's targets, or null before it exists. */
  constructor(storage: DurableObjectStorage, targets: () => Promise<readonly DeliveryTarget[] | null>) {
    this.#storage = storage;
    this.#targets = targets;
  }

  /** In the commit's synchronous section, so the standby is written with the receipt. */
  async standBy(now: number): Promise<void> {
    const armed = await this.#storage.getAlarm();
    if (armed === null || armed > now + OUTBOX_STANDBY_MS) await this.#storage.setAlarm(now + OUTBOX_STANDBY_MS);
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
      const targets = await this.#targets();
      if (!targets) return;
      const next = await deliverOutbox(this.#storage.sql, targets, Date.now());
      // A commit while this run was out asked for another run, which decides then.
      if (this.#again || !next) continue;
      const armed = await this.#storage.getAlarm();
      if (armed === null || armed > next.at) await this.#storage.setAlarm(next.at);
    } while (this.#again);
  }
}
