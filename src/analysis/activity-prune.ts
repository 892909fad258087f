import type { Detector } from "../config/detector-schema.js";
import { AT, type Position } from "./activity-rows.js";
import { FLOW_PATH_ACTIONS } from "./detectors.js";

/** Rows removed per batch when pruning. */
export const PRUNE_BATCH = 1_000;

/**
 * Forgets, in one batch per table, what no detector can still need: actions
 * older than every window a judgement within the grace can reach (the rate
 * window twice: the action before a burst is judged over its own window too),
 * except from the earliest flow source still inside its window on, and the
 * last sequences novelty compares with; finding keys whose action can no
 * longer be re-judged (novelty's keys are kept: one per tool/action pair).
 * `highWater` is the time of the latest action recorded. Answers whether more
 * is left to prune.
 */
export function pruneIndex(sql: SqlStorage, detectors: readonly Detector[], highWater: number, graceMs: number, batch: number): boolean {
  // Judgements happen within the grace of the latest action: what they can reach is kept.
  const settled = highWater - graceMs;
  let activityCutoff = settled;
  let novelty = 0;
  const sources = new Map<string, number>();
  for (const d of detectors) {
    if (d.kind === "rate") activityCutoff = Math.min(activityCutoff, settled - 2 * d.window_seconds * 1000);
    if (d.kind === "novelty") novelty = Math.max(novelty, d.sequences + 1);
    if (d.kind === "flow") sources.set(d.from, Math.min(sources.get(d.from) ?? settled, settled - d.window_seconds * 1000));
  }
  // A flow's path names the last actions before its write: keep that many before the settled time.
  const pathStart = sources.size === 0
    ? undefined
    : sql
        .exec<Position>("SELECT at, seq, n FROM activity WHERE at < ? ORDER BY at DESC, seq DESC, n DESC LIMIT 1 OFFSET ?", settled, FLOW_PATH_ACTIONS - 1)
        .toArray()[0];
  const [fromAt, fromSeq, fromN] = pathStart ? AT(pathStart) : sources.size === 0 ? [settled, "", 0] : [Number.NEGATIVE_INFINITY, "", 0];
  const kept = "SELECT seq FROM watched_sequences WHERE first_at < ? ORDER BY first_at DESC, seq DESC, first_n DESC LIMIT ?";
  const removed = [
    sql.exec(
      `DELETE FROM activity WHERE (at, seq, n) IN (SELECT at, seq, n FROM activity
         WHERE at < ? AND (at, seq, n) < (?, ?, ?) AND seq NOT IN (${kept}) LIMIT ?)`,
      activityCutoff,
      fromAt,
      fromSeq,
      fromN,
      settled,
      novelty,
      batch,
    ).rowsWritten,
    // Sources are looked up over their window; any other label only by a late source, within the grace.
    ...[...sources].map(([label, since]) =>
      sql.exec(
        "DELETE FROM activity_labels WHERE (label, at, seq, n) IN (SELECT label, at, seq, n FROM activity_labels WHERE label = ? AND at < ? LIMIT ?)",
        label,
        since,
        batch,
      ).rowsWritten,
    ),
    sql.exec(
      `DELETE FROM activity_labels WHERE (label, at, seq, n) IN (SELECT label, at, seq, n FROM activity_labels
         WHERE at < ? AND label NOT IN (${[...sources.keys()].map(() => "?").join(", ")}) LIMIT ?)`,
      settled,
      ...sources.keys(),
      batch,
    ).rowsWritten,
    sql.exec(
      `DELETE FROM watched_sequences WHERE seq IN (SELECT seq FROM watched_sequences WHERE first_at < ? AND seq NOT IN (${kept}) LIMIT ?)`,
      activityCutoff,
      settled,
      novelty,
      batch,
    ).rowsWritten,
    sql.exec("DELETE FROM findings WHERE key IN (SELECT key FROM findings WHERE lasting = 0 AND at < ? LIMIT ?)", activityCutoff, batch)
      .rowsWritten,
  ];
  return removed.some((n) => n >= batch);
}
