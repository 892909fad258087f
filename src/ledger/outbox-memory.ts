import { DELIVERY_BATCH, type DeliveryTarget, type OutboxSource } from "./outbox.js";
import { type DeliveryState, type OutboxRow, OutboxStore } from "./outbox-store.js";

/**
 * The outbox's SQL as one ledger instance sees it, kept in memory for the instance's life.
 *
 * Why: a run right after a commit used to read every cursor and a page of receipts back
 * from SQLite and write the cursors it moved in a second transaction, per receipt — more
 * than the decision itself cost. The instance is the only writer of both (one object, one
 * thread), so it can know them without reading:
 * - the cursors are read once, then kept with every write;
 * - the receipts it commits are kept (`committed`, contiguous, at most a page), so a page
 *   that starts inside them is answered from memory; anything older is read from SQL;
 * - a redeliverable target's cursor (outbox.ts) is written late (`writeLate`): with the
 *   deletion of the standby alarm once a run delivered everything (outbox-runner.ts), or
 *   with the next commit's transaction, never in a write of its own. Until then SQL holds
 *   an older cursor: after a restart the run starts there and hands the receivers receipts
 *   they already took, which they ignore. At least once, as before; only redeliverable targets wait, so a webhook is never
 *   POSTed twice for this.
 */
export class OutboxMemory implements OutboxSource {
  readonly #store: OutboxStore;
  #states: Map<string, DeliveryState> | null = null;
  /** Receipts this instance committed, oldest first, with no gap; a page of them at most. */
  #tail: OutboxRow[] = [];
  /** The last receipt this instance committed: nothing is after it. */
  #head: number | null = null;
  /** Cursors moved since they were last written. */
  readonly #late = new Map<string, DeliveryState>();

  constructor(sql: SqlStorage) {
    this.#store = new OutboxStore(sql);
  }

  states(): Map<string, DeliveryState> {
    this.#states ??= this.#store.states();
    return this.#states;
  }

  /** A receipt just committed (every commit, so the kept ones have no gap up to the head). */
  committed(row: OutboxRow): void {
    const last = this.#tail.at(-1);
    if (last && last.n + 1 !== row.n) this.#tail = [];
    this.#tail.push(row);
    this.#head = row.n;
    if (this.#tail.length > DELIVERY_BATCH) this.#tail.shift();
  }

  page(after: number, limit: number): OutboxRow[] {
    if (this.#head !== null && after >= this.#head) return [];
    const first = this.#tail[0];
    // The kept receipts reach the head, so a page that starts inside them is all of it.
    if (first && first.n <= after + 1) return this.#tail.filter((r) => r.n > after).slice(0, limit);
    return this.#store.page(after, limit);
  }

  record(target: Pick<DeliveryTarget, "name" | "redeliverable">, state: DeliveryState): void {
    // Two runs can deliver to one target side by side (the analysts' hand-over beside a run,
    // outbox-runner.ts): the one that got further wins, as the SQL's MAX(through) does.
    const known = this.states().get(target.name);
    if (known && known.through > state.through) return;
    this.states().set(target.name, state);
    // A failing target's retry state is written at once: the alarm that retries it may be a new instance's.
    if (target.redeliverable && state.attempts === 0) {
      this.#late.set(target.name, state);
    } else {
      this.#late.delete(target.name);
      this.#store.record(target, state);
    }
    this.#forgetDelivered();
  }

  /** Writes the cursors that moved since they were last written (no transaction of its own: the caller's). */
  writeLate(): void {
    for (const [name, state] of this.#late) this.#store.record({ name }, state);
    this.#late.clear();
  }

  /** Drops the kept receipts every known target already has. */
  #forgetDelivered(): void {
    let lowest = Number.POSITIVE_INFINITY;
    for (const state of this.states().values()) lowest = Math.min(lowest, state.through);
    const keep = this.#tail.findIndex((r) => r.n > lowest);
    this.#tail = keep < 0 ? [] : this.#tail.slice(keep);
  }
}
