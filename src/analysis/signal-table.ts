import type { Detector } from "../config/detector-schema.js";
import type { ConsultedSignal } from "../policy/types.js";

/** Expired signals removed from the hot table per batch (the signed log keeps them). */
export const EXPIRY_BATCH = 1000;

export interface StoredSignal {
  id: string;
  detector: string;
  version: number;
  severity: string;
  expires_at: number;
  status: "active" | "acknowledged" | "cleared";
  signal: string;
}

/** A signal just signed, as the hot table keeps it. */
export interface NewSignal {
  id: string;
  key: string;
  detector: Detector;
  expires: number;
  jws: string;
}

/** Signals in force at `now` (seconds): not cleared, not expired; of the given detectors only, oldest first. */
export function signalsInForce(sql: SqlStorage, now: number, detectors?: readonly string[]): ConsultedSignal[] {
  const rows = sql
    .exec<{ id: string; detector: string; version: number; severity: string; expires_at: number }>(
      `SELECT id, detector, version, severity, expires_at FROM signals WHERE expires_at > ? AND status != 'cleared'
       ${detectors ? "AND detector IN (SELECT value FROM json_each(?))" : ""} ORDER BY rowid`,
      now,
      ...(detectors ? [JSON.stringify(detectors)] : []),
    )
    .toArray();
  return rows.map(({ id, detector, version, severity, expires_at }) => ({ id, detector, version, severity, expires_at }));
}

/** The hot table's signals, oldest first: one by id, or only those in force (not cleared). */
export function storedSignals(sql: SqlStorage, filter: { id?: string; inForce?: boolean } = {}): StoredSignal[] {
  const where = [...(filter.id === undefined ? [] : ["id = ?"]), ...(filter.inForce ? ["status != 'cleared'"] : [])];
  return sql
    .exec<{ id: string; detector: string; version: number; severity: string; expires_at: number; status: StoredSignal["status"]; jws: string }>(
      `SELECT id, detector, version, severity, expires_at, status, jws FROM signals ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY rowid`,
      ...(filter.id === undefined ? [] : [filter.id]),
    )
    .toArray()
    .map((r) => ({ id: r.id, detector: r.detector, version: r.version, severity: r.severity, expires_at: r.expires_at, status: r.status, signal: r.jws }));
}

export function insertSignals(sql: SqlStorage, signals: readonly NewSignal[]): void {
  for (const s of signals) {
    sql.exec(
      "INSERT OR IGNORE INTO signals (id, key, detector, version, severity, expires_at, status, jws) VALUES (?, ?, ?, ?, ?, ?, 'active', ?)",
      s.id, s.key, s.detector.id, s.detector.version, s.detector.severity, s.expires, s.jws,
    );
  }
}

export function setSignalStatus(sql: SqlStorage, id: string, status: StoredSignal["status"]): void {
  sql.exec("UPDATE signals SET status = ? WHERE id = ?", status, id);
}

/** Removes one batch of the signals expired at `now` (seconds); answers how many. */
export function deleteExpiredSignals(sql: SqlStorage, now: number): number {
  return sql.exec("DELETE FROM signals WHERE id IN (SELECT id FROM signals WHERE expires_at <= ? LIMIT ?)", now, EXPIRY_BATCH).rowsWritten;
}
