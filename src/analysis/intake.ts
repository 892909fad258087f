import { type ReceiptClaims, isActivity } from "../tokens/receipt.js";
import type { Detector } from "../config/detector-schema.js";
import { ANALYSIS_GRACE_MS, type ActivityIndex } from "./activity-index.js";
import type { IndexedFinding } from "./activity-rows.js";
import type { ActivityEvent } from "./detectors.js";

/** A delivered receipt: its claims (read, not verified: the only sender is the ledger that signed it) and its hash. */
export interface DeliveredReceipt {
  claims: ReceiptClaims;
  hash: string;
}

/**
 * Takes one delivery of a sequence's receipts into an analyst's storage: only
 * the next receipts after that sequence's cursor count (a repeat is ignored, a
 * gap waits for the missing receipt; a ranged delivery carries only the allowed
 * actions of its range, and moves the cursor to its end), their allowed actions go through the
 * index, and the findings are recorded with their keys and queued for signing
 * (`pending_findings`) before the cursor moves — all in the caller's
 * transaction, so a crash before signing loses nothing.
 */
export function takeDelivery(
  sql: SqlStorage,
  index: ActivityIndex,
  detectors: readonly Detector[],
  seq: string,
  delivered: readonly DeliveredReceipt[],
  range: { after?: number | undefined; through?: number | undefined; graceMs?: number } = {},
): { through: number; findings: IndexedFinding[] } {
  const cursor = sql.exec<{ through: number }>("SELECT through FROM cursors WHERE seq = ?", seq).toArray()[0]?.through ?? -1;
  let through = cursor;
  const fresh: ActivityEvent[] = [];
  const ranged = range.after !== undefined && range.through !== undefined;
  // A range that starts past the cursor would leave a gap: wait for what is missing.
  if (ranged && (range.after as number) > cursor) return { through: cursor, findings: [] };
  for (const { claims, hash } of delivered) {
    if (claims.seq !== seq || claims.n <= through) continue; // already delivered
    if (!ranged && claims.n !== through + 1) break; // a gap: wait for the missing receipt
    through = claims.n;
    const event = activityOf(claims, hash);
    if (event) fresh.push(event);
  }
  if (ranged) through = Math.max(through, range.through as number);
  if (through === cursor) return { through, findings: [] };
  const findings = index.add(fresh, detectors, range.graceMs ?? ANALYSIS_GRACE_MS);
  index.record(findings);
  for (const f of findings) {
    const body = { detector: f.detector.id, receipts: f.receipts, summary: f.summary };
    sql.exec("INSERT OR IGNORE INTO pending_findings (key, body) VALUES (?, ?)", f.key, JSON.stringify(body));
  }
  sql.exec("INSERT INTO cursors (seq, through) VALUES (?, ?) ON CONFLICT (seq) DO UPDATE SET through = excluded.through", seq, through);
  return { through, findings };
}

/** An allowed redeem as an activity event; anything else is not activity. */
export function activityOf(claims: ReceiptClaims, hash: string): ActivityEvent | null {
  if (!isActivity(claims.kind, claims.decision) || claims.inputs.kind !== "redeem") return null;
  const details = (claims.details ?? {}) as { labels?: string[]; effect?: "read" | "write" };
  return {
    seq: claims.seq,
    n: claims.n,
    receipt: hash,
    at: claims.at,
    tool: claims.inputs.tool,
    action: claims.inputs.action,
    labels: details.labels ?? [],
    effect: details.effect ?? null,
  };
}
