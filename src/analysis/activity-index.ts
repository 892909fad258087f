import type { Detector } from "../config/detector-schema.js";
import { PRUNE_BATCH, pruneIndex } from "./activity-prune.js";
import { AT, type IndexedFinding, type Position, positionKey } from "./activity-rows.js";
import { type ActivityEvent, compareEvents } from "./detectors.js";
import { flowAffected, judgeFlow } from "./flow-index.js";
import { judgeNovelty, noveltyAffected } from "./novelty-index.js";
import { judgeRate, rateAffected } from "./rate-index.js";

/**
 * How far behind the latest action an analyst has seen another may arrive and
 * still be judged exactly as the timeline semantics (`detect()` over every
 * action in time order) judge it. Receipts reach an analyst from many ledgers'
 * outboxes, so actions of different sequences arrive out of order; a healthy
 * outbox delivers within seconds and retries every two. An action later than
 * this is still recorded and judged itself against what is known, but it no
 * longer re-judges the actions recorded after it, so its own cost stays bounded.
 */
export const ANALYSIS_GRACE_MS = 60_000;

/** The tables of the index, as one analyst migration (see analyst.ts). */
export const ACTIVITY_INDEX_SCHEMA = `
  CREATE TABLE activity (at INTEGER NOT NULL, seq TEXT NOT NULL, n INTEGER NOT NULL, receipt TEXT NOT NULL,
    tool TEXT NOT NULL, action TEXT NOT NULL, effect TEXT, labels TEXT NOT NULL, PRIMARY KEY (at, seq, n)) WITHOUT ROWID;
  CREATE INDEX activity_by_action ON activity (action, at, seq, n);
  CREATE INDEX activity_by_pair ON activity (tool, action, seq, at, n);
  CREATE TABLE activity_labels (label TEXT NOT NULL, at INTEGER NOT NULL, seq TEXT NOT NULL, n INTEGER NOT NULL,
    write INTEGER NOT NULL, receipt TEXT NOT NULL, action TEXT NOT NULL, PRIMARY KEY (label, at, seq, n)) WITHOUT ROWID;
  CREATE TABLE watched_sequences (seq TEXT PRIMARY KEY, first_at INTEGER NOT NULL, first_n INTEGER NOT NULL) WITHOUT ROWID;
  CREATE INDEX watched_sequences_by_first ON watched_sequences (first_at, seq, first_n);
  CREATE TABLE findings (key TEXT PRIMARY KEY, at INTEGER NOT NULL, lasting INTEGER NOT NULL) WITHOUT ROWID;
  CREATE INDEX findings_by_at ON findings (lasting, at);`;

/**
 * The analysis plane's memory of one watched party, kept as indexed SQL so that
 * each detector's question is a bounded lookup instead of a scan of history:
 * - flow (flow-index.ts): the latest action on `from`-labelled data before the write
 *   (`activity_labels`, one index seek); the path is read only when a finding fires;
 * - rate (rate-index.ts): the matching actions inside the window, counted up to `max + 1`
 *   (`activity_by_action`), so the cost is bounded by the configuration, not history;
 * - novelty (novelty-index.ts): the last `sequences` sequences by first action (`watched_sequences`)
 *   and one seek per pair (`activity_by_pair`).
 * An action that arrives late (within the grace) re-judges only the later actions
 * whose verdict it can change. Findings are keyed, and a key, once recorded, is
 * never raised again. Synchronous: run it inside the caller's transaction.
 */
export class ActivityIndex {
  readonly #sql: SqlStorage;
  /** The latest action recorded (read once, then kept): what "late" is measured against. */
  #latest: Position | null | undefined;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  /** The time of the latest action recorded. */
  highWater(): number | null {
    return this.#latestRecorded()?.at ?? null;
  }

  /**
   * Records `events` (new, or redelivered) and returns what the detectors find
   * that is not recorded yet: for each detector, every given action and each later
   * one whose verdict the given ones can change, judged in timeline order.
   */
  add(events: readonly ActivityEvent[], detectors: readonly Detector[], graceMs = ANALYSIS_GRACE_MS): IndexedFinding[] {
    if (events.length === 0) return [];
    const latestBefore = this.#latestRecorded();
    const firsts = new Set<ActivityEvent>();
    for (const e of events) if (this.#insert(e)) firsts.add(e);
    const latest = [latestBefore, ...events].reduce<Position | null>((a, b) => (b && (!a || compareEvents(b, a) > 0) ? b : a), null);
    this.#latest = latest;
    const highWater = latest?.at ?? Number.NEGATIVE_INFINITY;
    // Only an action with others recorded after it can change their verdicts (the usual
    // in-order delivery has none, and then asks nothing more of storage).
    const late = events.filter(
      (e) => e.at >= highWater - graceMs && ((latestBefore && compareEvents(e, latestBefore) < 0) || events.some((f) => compareEvents(f, e) > 0)),
    );

    const findings: IndexedFinding[] = [];
    for (const detector of detectors) {
      const candidates = new Map<string, ActivityEvent>();
      for (const e of events) candidates.set(positionKey(e), e);
      for (const e of late) for (const later of this.#affected(detector, e, firsts.has(e))) candidates.set(positionKey(later), later);
      const raised = new Set<string>();
      for (const e of [...candidates.values()].sort(compareEvents)) {
        const finding = this.#judge(detector, e);
        if (!finding || raised.has(finding.key)) continue;
        raised.add(finding.key);
        findings.push(finding);
      }
    }
    return findings;
  }

  /** Records the findings' keys, so that neither a redelivery nor a re-judgement raises them again. */
  record(findings: readonly IndexedFinding[]): void {
    for (const f of findings) {
      this.#sql.exec("INSERT OR IGNORE INTO findings (key, at, lasting) VALUES (?, ?, ?)", f.key, f.at, f.detector.kind === "novelty" ? 1 : 0);
    }
  }

  /** Forgets, in batches, what no detector can still need (activity-prune.ts); answers whether more is left. */
  prune(detectors: readonly Detector[], graceMs = ANALYSIS_GRACE_MS, batch = PRUNE_BATCH): boolean {
    const highWater = this.highWater();
    if (highWater === null) return false;
    return pruneIndex(this.#sql, detectors, highWater, graceMs, batch);
  }

  /** Rows kept, for the benchmarks and tests: actions, labels, watched sequences, finding keys. */
  size(): { activity: number; labels: number; sequences: number; findings: number } {
    const count = (table: string) => this.#sql.exec<{ c: number }>(`SELECT COUNT(*) AS c FROM ${table}`).one().c;
    return { activity: count("activity"), labels: count("activity_labels"), sequences: count("watched_sequences"), findings: count("findings") };
  }

  /** Records one action; answers whether it is now its sequence's first. */
  #insert(e: ActivityEvent): boolean {
    this.#sql.exec(
      "INSERT OR IGNORE INTO activity (at, seq, n, receipt, tool, action, effect, labels) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      ...AT(e),
      e.receipt,
      e.tool,
      e.action,
      e.effect,
      JSON.stringify(e.labels),
    );
    for (const label of new Set(e.labels)) {
      this.#sql.exec(
        "INSERT OR IGNORE INTO activity_labels (label, at, seq, n, write, receipt, action) VALUES (?, ?, ?, ?, ?, ?, ?)",
        label,
        ...AT(e),
        e.effect === "write" ? 1 : 0,
        e.receipt,
        e.action,
      );
    }
    // A sequence's place among the watched ones is its first action's.
    return this.#sql.exec(
      `INSERT INTO watched_sequences (seq, first_at, first_n) VALUES (?, ?, ?)
       ON CONFLICT (seq) DO UPDATE SET first_at = excluded.first_at, first_n = excluded.first_n
       WHERE (excluded.first_at, excluded.first_n) < (first_at, first_n)`,
      e.seq,
      e.at,
      e.n,
    ).rowsWritten > 0;
  }

  #latestRecorded(): Position | null {
    this.#latest ??= this.#sql.exec<Position>("SELECT at, seq, n FROM activity ORDER BY at DESC, seq DESC, n DESC LIMIT 1").toArray()[0] ?? null;
    return this.#latest;
  }

  /** The recorded actions after `e` whose verdict under `detector` knowing `e` can differ from before. */
  #affected(detector: Detector, e: ActivityEvent, first: boolean): ActivityEvent[] {
    switch (detector.kind) {
      case "flow":
        return flowAffected(this.#sql, detector, e);
      case "rate":
        return rateAffected(this.#sql, detector, e);
      case "novelty":
        return noveltyAffected(this.#sql, e, first);
    }
  }

  #judge(detector: Detector, e: ActivityEvent): IndexedFinding | null {
    switch (detector.kind) {
      case "flow":
        return judgeFlow(this.#sql, detector, e);
      case "rate":
        return judgeRate(this.#sql, detector, e);
      case "novelty":
        return judgeNovelty(this.#sql, detector, e);
    }
  }
}
