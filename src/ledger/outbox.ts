import { retryDelayMs } from "../outbound.js";
import { type ReceiptClaims, unverifiedReceiptClaims } from "../tokens/receipt.js";
import type { DeliveryState, OutboxRow } from "./outbox-store.js";

/** Receipts read per target and call. */
export const DELIVERY_BATCH = 200;

/** A committed receipt handed to a target: its place in the chain, the JWS, and its claims (decoded once, lazily). */
export interface OutboxReceipt {
  n: number;
  jws: string;
  /** NULL for receipts written before it was recorded: unknown, so treated as activity. */
  activity: number | null;
  /** The last receipt of its page: the only place a seal can be (nothing is receipted after one). */
  last: boolean;
  claims(): ReceiptClaims;
}

/**
 * Whether a receipt can be more than an allowed redeem's activity: anything else, or the
 * page's last receipt (an allowed redeem can seal, and a seal is the chain's last receipt).
 * Lets the index and the webhooks skip the redeems between without decoding them.
 */
export function mayChangeSequence(r: OutboxReceipt): boolean {
  return r.activity !== 1 || r.last;
}

/**
 * One place the ledger's committed receipts go to, with its own cursor. `wants` is
 * its filter (a receipt it does not want only moves its cursor); `send` takes the
 * wanted receipts of (after, through] in order and answers how far it
 * acknowledged: `through`, or less to stop there and retry the rest later.
 */
export interface DeliveryTarget {
  name: string;
  wants(receipt: OutboxReceipt): boolean;
  /**
   * The receiver checks that each range starts where its last one ended (the analysts:
   * a gap waits for the missing receipts). Its cursor then moves only with a delivery,
   * never past receipts it does not want on its own, or the next range would start
   * past the receiver's cursor and be refused for ever.
   */
  continuous?: boolean;
  /**
   * The receiver ignores what it already took (the analysts and the index keep their own
   * cursors per sequence), so a delivery made twice costs a call, not a duplicate: its
   * cursor here may be written late (outbox-runner.ts). A webhook is not: a repeat is a
   * second POST, so its cursor is written as soon as it moves.
   */
  redeliverable?: boolean;
  send(page: { after: number; through: number; receipts: OutboxReceipt[] }): Promise<number>;
}

/**
 * Where a run reads the cursors and the committed receipts and records how far each target
 * got: the ledger's SQL (OutboxStore), or the runner's copy of it in memory (outbox-memory.ts).
 */
export interface OutboxSource {
  states(): Map<string, DeliveryState>;
  page(after: number, limit: number): OutboxRow[];
  record(target: Pick<DeliveryTarget, "name" | "redeliverable">, state: DeliveryState): void;
}

/** When the outbox wants to run again: now (a full page left more), at a failing target's retry time, or never. */
export type NextRun = { at: number } | null;

/**
 * Delivers committed receipts to each target, in order, at least once: a target's
 * cursor moves only as far as it acknowledged, so nothing committed is lost. Each
 * target fails alone: its attempts are counted and it waits with exponential
 * backoff (outbound.ts) while the others go on. A target not yet due is skipped.
 * Targets run side by side, so a slow endpoint (up to its timeout) delays no other.
 */
export async function deliverOutbox(store: OutboxSource, targets: readonly DeliveryTarget[], now: number): Promise<NextRun> {
  // One read of every cursor and one page from the furthest-behind due target, shared:
  // on a fresh object each statement is dear, and a run usually has two or three targets.
  const states = new Map(store.states());
  const stateOf = (name: string): DeliveryState => states.get(name) ?? { through: -1, attempts: 0, nextAt: 0 };
  const due = targets.filter((t) => {
    const state = stateOf(t.name);
    return !(state.attempts > 0 && state.nextAt > now);
  });
  const from = Math.min(...due.map((t) => stateOf(t.name).through));
  const rows = due.length > 0 ? store.page(from, DELIVERY_BATCH) : [];
  const pageFull = rows.length === DELIVERY_BATCH;
  const receipts = rows.map((row, i) => outboxReceipt(row, i === rows.length - 1));
  const turns = await Promise.all(due.map((target) => deliverTo(target, stateOf(target.name), receipts, pageFull, now)));
  // Every cursor written at once, with no await between: one implicit transaction, one
  // commit, however many targets (a commit per target was most of an alarm's cost).
  for (const turn of turns) {
    if (!turn.record) continue;
    store.record(turn.target, turn.record);
    states.set(turn.target.name, turn.record);
  }
  if (turns.some((turn) => turn.full)) return { at: now };
  let retry: number | null = null;
  for (const target of targets) {
    const state = stateOf(target.name);
    if (state.attempts > 0 && (retry === null || state.nextAt < retry)) retry = state.nextAt;
  }
  return retry === null ? null : { at: retry };
}

/** One target's turn: how far it got (to record), and whether it took a full page (more may wait). */
interface Turn {
  target: DeliveryTarget;
  record: DeliveryState | null;
  full: boolean;
}

async function deliverTo(target: DeliveryTarget, state: DeliveryState, page: readonly OutboxReceipt[], pageFull: boolean, now: number): Promise<Turn> {
  const mine = page.filter((r) => r.n > state.through);
  const last = mine.at(-1);
  if (!last) return { target, record: null, full: false };
  const wanted = mine.filter((r) => target.wants(r));
  // Nothing for a continuous receiver: leave its cursor, the next delivery's range covers
  // these too (a full page of them is sent empty, so the cursor cannot stall).
  if (wanted.length === 0 && target.continuous && !pageFull) return { target, record: null, full: false };
  let through = state.through;
  try {
    through = wanted.length > 0 || target.continuous ? await target.send({ after: state.through, through: last.n, receipts: wanted }) : last.n;
  } catch (error) {
    console.error(`receipt delivery to ${target.name} failed; retrying`, error);
  }
  if (through >= last.n) return { target, record: { through: last.n, attempts: 0, nextAt: 0 }, full: pageFull };
  const attempts = state.attempts + 1;
  return { target, record: { through, attempts, nextAt: now + retryDelayMs(attempts) }, full: false };
}

function outboxReceipt(row: OutboxRow, last: boolean): OutboxReceipt {
  let decoded: ReceiptClaims | undefined;
  return {
    n: row.n,
    jws: row.jws,
    activity: row.activity,
    last,
    claims: () => {
      decoded ??= unverifiedReceiptClaims(row.jws);
      return decoded;
    },
  };
}
