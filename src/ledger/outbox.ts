import { base64url } from "jose";
import { retryDelayMs } from "../outbound.js";
import type { ReceiptClaims } from "../tokens/receipt.js";
import { type OutboxRow, OutboxStore } from "./outbox-store.js";

/** Receipts read per target and call. */
const DELIVERY_BATCH = 200;

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
  send(page: { after: number; through: number; receipts: OutboxReceipt[] }): Promise<number>;
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
export async function deliverOutbox(sql: SqlStorage, targets: readonly DeliveryTarget[], now: number): Promise<NextRun> {
  const store = new OutboxStore(sql);
  const full = await Promise.all(targets.map((target) => deliverTo(store, target, now)));
  const more = full.some(Boolean);
  if (more) return { at: now };
  const retry = store.nextRetry(targets.map((t) => t.name));
  return retry === null ? null : { at: retry };
}

/** One target's turn; answers whether it took a full page (more may wait). */
async function deliverTo(store: OutboxStore, target: DeliveryTarget, now: number): Promise<boolean> {
  const state = store.state(target.name);
  if (state.attempts > 0 && state.nextAt > now) return false;
  const rows = store.page(state.through, DELIVERY_BATCH);
  const last = rows.at(-1);
  if (!last) return false;
  const wanted = rows.map((row) => outboxReceipt(row, row === last)).filter((r) => target.wants(r));
  let through = state.through;
  try {
    through = wanted.length > 0 ? await target.send({ after: state.through, through: last.n, receipts: wanted }) : last.n;
  } catch (error) {
    console.error(`receipt delivery to ${target.name} failed; retrying`, error);
  }
  if (through >= last.n) {
    store.record(target.name, { through: last.n, attempts: 0, nextAt: 0 });
    return rows.length === DELIVERY_BATCH;
  }
  const attempts = state.attempts + 1;
  store.record(target.name, { through, attempts, nextAt: now + retryDelayMs(attempts) });
  return false;
}

function outboxReceipt(row: OutboxRow, last: boolean): OutboxReceipt {
  let decoded: ReceiptClaims | undefined;
  return {
    n: row.n,
    jws: row.jws,
    activity: row.activity,
    last,
    claims: () => {
      decoded ??= decodeClaims(row.jws);
      return decoded;
    },
  };
}

/** A receipt's claims, read without verifying: this ledger signed it and committed it. */
export function decodeClaims(jws: string): ReceiptClaims {
  return JSON.parse(new TextDecoder().decode(base64url.decode(jws.split(".")[1] ?? ""))) as ReceiptClaims;
}
