import { AT, type IndexedFinding, type Position, findingRecorded, readActivity } from "./activity-rows.js";
import { type ActivityEvent, type DetectorOf, matchesRate } from "./detectors.js";

type RateDetector = DetectorOf<"rate">;

/**
 * The recorded actions after `e` whose rate verdict knowing `e` can differ from before: it
 * counts in the windows that contain it; later actions' counts do not change.
 */
export function rateAffected(sql: SqlStorage, detector: RateDetector, e: ActivityEvent): ActivityEvent[] {
  if (!matchesRate(detector, e)) return [];
  return readActivity(
    sql,
    `SELECT * FROM activity WHERE (at, seq, n) > (?, ?, ?) AND at <= ? ${detector.action ? "AND action = ?" : ""} ORDER BY at, seq, n`,
    ...AT(e),
    e.at + detector.window_seconds * 1000,
    ...(detector.action ? [detector.action] : []),
  );
}

/**
 * Judges an action by the matching actions inside its window (`activity_by_action`), counted
 * up to `max + 1`, so the cost is bounded by the configuration, not by history.
 */
export function judgeRate(sql: SqlStorage, detector: RateDetector, e: ActivityEvent): IndexedFinding | null {
  if (!matchesRate(detector, e)) return null;
  // Only the action that takes the window to exactly max + 1 can open a burst.
  if (countInWindow(sql, detector, e, detector.max + 2) !== detector.max + 1) return null;
  const filter = detector.action ? "AND action = ?" : "";
  const byAction = detector.action ? [detector.action] : [];
  const previous = sql
    .exec<Position>(`SELECT at, seq, n FROM activity WHERE (at, seq, n) < (?, ?, ?) ${filter} ORDER BY at DESC, seq DESC, n DESC LIMIT 1`, ...AT(e), ...byAction)
    .toArray()[0];
  if (previous && countInWindow(sql, detector, previous, detector.max + 1) > detector.max) return null;
  const matching = sql
    .exec<{ receipt: string }>(
      `SELECT receipt FROM activity WHERE at >= ? AND (at, seq, n) <= (?, ?, ?) ${filter} ORDER BY at, seq, n`,
      e.at - detector.window_seconds * 1000,
      ...AT(e),
      ...byAction,
    )
    .toArray();
  const key = `${detector.id}:${matching[0]?.receipt}`;
  if (findingRecorded(sql, key)) return null;
  return {
    detector,
    at: e.at,
    receipts: matching.map((m) => m.receipt),
    key,
    summary: `${matching.length} ${detector.action ?? "actions"} within ${detector.window_seconds}s (more than ${detector.max})`,
  };
}

/** The matching actions in the window that ends at `p` (inclusive), counted up to `cap`. */
function countInWindow(sql: SqlStorage, detector: RateDetector, p: Position, cap: number): number {
  return sql
    .exec<{ c: number }>(
      `SELECT COUNT(*) AS c FROM (SELECT 1 FROM activity WHERE at >= ? AND (at, seq, n) <= (?, ?, ?) ${detector.action ? "AND action = ?" : ""} LIMIT ?)`,
      p.at - detector.window_seconds * 1000,
      ...AT(p),
      ...(detector.action ? [detector.action] : []),
      cap,
    )
    .one().c;
}
