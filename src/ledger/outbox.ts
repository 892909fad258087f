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
  claims(): ReceiptClaims;
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
 */
export async function deliverOutbox(sql: SqlStorage, targets: readonly DeliveryTarget[], now: number): Promise<NextRun> {
  const store = new OutboxStore(sql);
  let more = false;
  for (const target of targets) {
    const state = store.state(target.name);
    if (state.attempts > 0 && state.nextAt > now) continue;
    const rows = store.page(state.through, DELIVERY_BATCH);
    const last = rows.at(-1);
    if (!last) continue;
    const wanted = rows.map(outboxReceipt).filter((r) => target.wants(r));
    let through = state.through;
    try {
      through = wanted.length > 0 ? await target.send({ after: state.through, through: last.n, receipts: wanted }) : last.n;
    } catch (error) {
      console.error(`receipt delivery to ${target.name} failed; retrying`, error);
    }
    if (through >= last.n) {
      store.record(target.name, { through: last.n, attempts: 0, nextAt: 0 });
      more ||= rows.length === DELIVERY_BATCH;
    } else {
      const attempts = state.attempts + 1;
      store.record(target.name, { through, attempts, nextAt: now + retryDelayMs(attempts) });
    }
  }
  if (more) return { at: now };
  const retry = store.nextRetry(targets.map((t) => t.name));
  return retry === null ? null : { at: retry };
}

function outboxReceipt(row: OutboxRow): OutboxReceipt {
  let decoded: ReceiptClaims | undefined;
  return {
    n: row.n,
    jws: row.jws,
    activity: row.activity,
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
