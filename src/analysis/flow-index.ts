import { AT, type IndexedFinding, type Position, findingRecorded, readActivity } from "./activity-rows.js";
import { type ActivityEvent, type DetectorOf, FLOW_PATH_ACTIONS } from "./detectors.js";

type FlowDetector = DetectorOf<"flow">;

/**
 * The recorded writes after `e` whose flow verdict knowing `e` can differ from before: only a
 * source can open a flow, and it reaches the sinks written inside its window.
 */
export function flowAffected(sql: SqlStorage, detector: FlowDetector, e: ActivityEvent): ActivityEvent[] {
  if (!e.labels.includes(detector.from)) return [];
  return readActivity(
    sql,
    `SELECT a.* FROM activity_labels l JOIN activity a ON a.at = l.at AND a.seq = l.seq AND a.n = l.n
     WHERE l.label = ? AND l.write = 1 AND (l.at, l.seq, l.n) > (?, ?, ?) AND l.at <= ? ORDER BY l.at, l.seq, l.n`,
    detector.to,
    ...AT(e),
    e.at + detector.window_seconds * 1000,
  );
}

/**
 * Judges a write against the latest action on `from`-labelled data before it (one seek in
 * `activity_labels`); the path between them is read only when the finding fires.
 */
export function judgeFlow(sql: SqlStorage, detector: FlowDetector, e: ActivityEvent): IndexedFinding | null {
  if (!(e.labels.includes(detector.to) && e.effect === "write")) return null;
  const key = `${detector.id}:${e.receipt}`;
  if (findingRecorded(sql, key)) return null;
  // The latest access to `from` data before the write, if it is inside the window.
  const source = sql
    .exec<Position & { receipt: string; action: string }>(
      "SELECT at, seq, n, receipt, action FROM activity_labels WHERE label = ? AND (at, seq, n) < (?, ?, ?) ORDER BY at DESC, seq DESC, n DESC LIMIT 1",
      detector.from,
      ...AT(e),
    )
    .toArray()[0];
  if (!source || source.at < e.at - detector.window_seconds * 1000) return null;
  const between = sql
    .exec<{ receipt: string }>(
      "SELECT receipt FROM activity WHERE (at, seq, n) > (?, ?, ?) AND (at, seq, n) < (?, ?, ?) ORDER BY at DESC, seq DESC, n DESC LIMIT ?",
      ...AT(source),
      ...AT(e),
      FLOW_PATH_ACTIONS,
    )
    .toArray()
    .reverse();
  return {
    detector,
    at: e.at,
    receipts: [source.receipt, ...between.map((p) => p.receipt), e.receipt],
    key,
    summary: `${source.action} on ${detector.from} data, then ${e.action} to a ${detector.to} sink`,
  };
}
