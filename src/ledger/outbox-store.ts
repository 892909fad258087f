import type { DeliveryTarget, OutboxSource } from "./outbox.js";

/** One committed receipt as the outbox reads it. `activity` is NULL for receipts written before it was recorded. */
export interface OutboxRow {
  n: number;
  jws: string;
  activity: number | null;
}

/** A target's cursor (`through`: the last n it acknowledged, -1 for none) and its retry state. */
export interface DeliveryState {
  through: number;
  attempts: number;
  nextAt: number;
}

/**
 * The SQL of the ledger's outbox: the chain itself is the outbox (receipts after a
 * target's cursor), and the `delivery` table holds one cursor per target. Written
 * outside a decision's transaction: a cursor only ever moves forward (MAX), so a
 * late or repeated write cannot take a target back over what it acknowledged.
 */
export class OutboxStore implements OutboxSource {
  readonly #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  /** Every target's cursor (a handful of rows). */
  states(): Map<string, DeliveryState> {
    const states = new Map<string, DeliveryState>();
    for (const row of this.#sql.exec<{ target: string; through: number; attempts: number; next_at: number }>("SELECT target, through, attempts, next_at FROM delivery")) {
      states.set(row.target, { through: row.through, attempts: row.attempts, nextAt: row.next_at });
    }
    return states;
  }

  /** The receipts after `after`, oldest first, at most `limit`. */
  page(after: number, limit: number): OutboxRow[] {
    return this.#sql
      .exec<{ n: number; jws: string; activity: number | null }>("SELECT n, jws, activity FROM receipts WHERE n > ? ORDER BY n LIMIT ?", after, limit)
      .toArray();
  }

  /** Records how far a target acknowledged, and its retry state (0/0 once it is healthy). */
  record(target: Pick<DeliveryTarget, "name">, state: DeliveryState): void {
    this.#sql.exec(
      `INSERT INTO delivery (target, through, attempts, next_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (target) DO UPDATE SET through = MAX(through, excluded.through), attempts = excluded.attempts, next_at = excluded.next_at`,
      target.name,
      state.through,
      state.attempts,
      state.nextAt,
    );
  }
}
