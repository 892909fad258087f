import { AT, type IndexedFinding, readActivity } from "./activity-rows.js";
import type { ActivityEvent, DetectorOf } from "./detectors.js";

type NoveltyDetector = DetectorOf<"novelty">;

/**
 * The recorded actions after `e` whose novelty verdict knowing `e` can differ from before:
 * only a sequence's first action (`first`) moves it among the last ones compared with.
 */
export function noveltyAffected(sql: SqlStorage, e: ActivityEvent, first: boolean): ActivityEvent[] {
  if (!first) return [];
  return readActivity(sql, "SELECT * FROM activity WHERE (at, seq, n) > (?, ?, ?) ORDER BY at, seq, n", ...AT(e));
}

/**
 * Judges an action against the last `sequences` sequences by first action
 * (`watched_sequences`), with one seek for its tool/action pair (`activity_by_pair`).
 */
export function judgeNovelty(sql: SqlStorage, detector: NoveltyDetector, e: ActivityEvent): IndexedFinding | null {
  const key = `${detector.id}:${e.tool}:${e.action}`;
  const previous = `SELECT seq FROM watched_sequences WHERE seq != ?1 AND (first_at, seq, first_n) < (?2, ?1, ?3)
                    ORDER BY first_at DESC, seq DESC, first_n DESC LIMIT ?4`;
  // One statement: already raised? how many sequences to compare with? the pair seen in them before?
  const verdict = sql
    .exec<{ raised: number; compared: number; seen: number }>(
      `SELECT EXISTS (SELECT 1 FROM findings WHERE key = ?7) AS raised, (SELECT COUNT(*) FROM (${previous})) AS compared,
         EXISTS (SELECT 1 FROM activity WHERE tool = ?5 AND action = ?6 AND seq IN (${previous}) AND (at, seq, n) < (?2, ?1, ?3)) AS seen`,
      e.seq,
      e.at,
      e.n,
      detector.sequences,
      e.tool,
      e.action,
      key,
    )
    .one();
  if (verdict.raised || verdict.compared === 0 || verdict.seen) return null;
  return { detector, at: e.at, receipts: [e.receipt], key, summary: `${e.action} on ${e.tool}: not used in the last ${verdict.compared} sequence(s)` };
}
