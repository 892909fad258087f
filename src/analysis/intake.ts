import type { ReceiptClaims } from "../tokens/receipt.js";
import { ANALYSIS_GRACE_MS, type ActivityIndex, type IndexedFinding } from "./activity-index.js";
import type { ActivityEvent, Detector } from "./detectors.js";

/** A delivered receipt: its claims (read, not verified: the only sender is the ledger that signed it) and its hash. */
export interface DeliveredReceipt {
  claims: ReceiptClaims;
  hash: string;
}

/**
 * Takes one delivery of a sequence's receipts into an analyst's storage: only
 * the next receipts after that sequence's cursor count (a repeat is ignored, a
 * gap waits for the missing receipt), their allowed actions go through the
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
  graceMs = ANALYSIS_GRACE_MS,
): { through: number; findings: IndexedFinding[] } {
  const cursor = sql.exec<{ through: number }>("SELECT through FROM cursors WHERE seq = ?", seq).toArray()[0]?.through ?? -1;
  let through = cursor;
  const fresh: ActivityEvent[] = [];
  for (const { claims, hash } of delivered) {
    if (claims.seq !== seq || claims.n <= through) continue; // already delivered
    if (claims.n !== through + 1) break; // a gap: wait for the missing receipt
    through = claims.n;
    const event = activityOf(claims, hash);
    if (event) fresh.push(event);
  }
  if (through === cursor) return { through, findings: [] };
  const findings = index.add(fresh, detectors, graceMs);
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
  if (claims.kind !== "redeem" || claims.decision !== "ALLOW" || claims.inputs.kind !== "redeem") return null;
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
