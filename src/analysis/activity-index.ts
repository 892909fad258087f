import { type ActivityEvent, type Detector, FLOW_PATH_ACTIONS, type Finding, compareEvents } from "./detectors.js";

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

/** Rows removed per batch when pruning. */
const PRUNE_BATCH = 1_000;

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

/** A finding with the time of the action it was judged on (when its key may be forgotten). */
export interface IndexedFinding extends Finding {
  at: number;
}

type Position = Pick<ActivityEvent, "at" | "seq" | "n">;
type FlowDetector = Extract<Detector, { kind: "flow" }>;
type RateDetector = Extract<Detector, { kind: "rate" }>;
type NoveltyDetector = Extract<Detector, { kind: "novelty" }>;

interface ActivityRow extends Record<string, SqlStorageValue> {
  at: number;
  seq: string;
  n: number;
  receipt: string;
  tool: string;
  action: string;
  effect: string | null;
  labels: string;
}

const AT = (p: Position) => [p.at, p.seq, p.n] as const;

/**
 * The analysis plane's memory of one watched party, kept as indexed SQL so that
 * each detector's question is a bounded lookup instead of a scan of history:
 * - flow: the latest action on `from`-labelled data before the write
 *   (`activity_labels`, one index seek); the path is read only when a finding fires;
 * - rate: the matching actions inside the window, counted up to `max + 1`
 *   (`activity_by_action`), so the cost is bounded by the configuration, not history;
 * - novelty: the last `sequences` sequences by first action (`watched_sequences`)
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

  /**
   * Forgets, in one batch per table, what no detector can still need: actions
   * older than every window a judgement within the grace can reach (the rate
   * window twice: the action before a burst is judged over its own window too),
   * except from the earliest flow source still inside its window on, and the
   * last sequences novelty compares with; finding keys whose action can no
   * longer be re-judged (novelty's keys are kept: one per tool/action pair).
   * Answers whether more is left to prune.
   */
  prune(detectors: readonly Detector[], graceMs = ANALYSIS_GRACE_MS, batch = PRUNE_BATCH): boolean {
    const highWater = this.highWater();
    if (highWater === null) return false;
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
      : this.#sql
          .exec<Position>("SELECT at, seq, n FROM activity WHERE at < ? ORDER BY at DESC, seq DESC, n DESC LIMIT 1 OFFSET ?", settled, FLOW_PATH_ACTIONS - 1)
          .toArray()[0];
    const [fromAt, fromSeq, fromN] = pathStart ? AT(pathStart) : sources.size === 0 ? [settled, "", 0] : [Number.NEGATIVE_INFINITY, "", 0];
    const kept = "SELECT seq FROM watched_sequences WHERE first_at < ? ORDER BY first_at DESC, seq DESC, first_n DESC LIMIT ?";
    const removed = [
      this.#sql.exec(
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
        this.#sql.exec(
          "DELETE FROM activity_labels WHERE (label, at, seq, n) IN (SELECT label, at, seq, n FROM activity_labels WHERE label = ? AND at < ? LIMIT ?)",
          label,
          since,
          batch,
        ).rowsWritten,
      ),
      this.#sql.exec(
        `DELETE FROM activity_labels WHERE (label, at, seq, n) IN (SELECT label, at, seq, n FROM activity_labels
           WHERE at < ? AND label NOT IN (${[...sources.keys()].map(() => "?").join(", ")}) LIMIT ?)`,
        settled,
        ...sources.keys(),
        batch,
      ).rowsWritten,
      this.#sql.exec(
        `DELETE FROM watched_sequences WHERE seq IN (SELECT seq FROM watched_sequences WHERE first_at < ? AND seq NOT IN (${kept}) LIMIT ?)`,
        activityCutoff,
        settled,
        novelty,
        batch,
      ).rowsWritten,
      this.#sql.exec("DELETE FROM findings WHERE key IN (SELECT key FROM findings WHERE lasting = 0 AND at < ? LIMIT ?)", activityCutoff, batch)
        .rowsWritten,
    ];
    return removed.some((n) => n >= batch);
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
        // Only a source can open a flow; it reaches the sinks written inside its window.
        if (!e.labels.includes(detector.from)) return [];
        return this.#rows(
          `SELECT a.* FROM activity_labels l JOIN activity a ON a.at = l.at AND a.seq = l.seq AND a.n = l.n
           WHERE l.label = ? AND l.write = 1 AND (l.at, l.seq, l.n) > (?, ?, ?) AND l.at <= ? ORDER BY l.at, l.seq, l.n`,
          detector.to,
          ...AT(e),
          e.at + detector.window_seconds * 1000,
        );
      case "rate":
        // It counts in the windows that contain it; later actions' counts do not change.
        if (!matchesRate(detector, e)) return [];
        return this.#rows(
          `SELECT * FROM activity WHERE (at, seq, n) > (?, ?, ?) AND at <= ? ${detector.action ? "AND action = ?" : ""} ORDER BY at, seq, n`,
          ...AT(e),
          e.at + detector.window_seconds * 1000,
          ...(detector.action ? [detector.action] : []),
        );
      case "novelty": {
        // Only a sequence's first action moves it among the last ones compared with.
        if (!first) return [];
        return this.#rows("SELECT * FROM activity WHERE (at, seq, n) > (?, ?, ?) ORDER BY at, seq, n", ...AT(e));
      }
    }
  }

  #judge(detector: Detector, e: ActivityEvent): IndexedFinding | null {
    switch (detector.kind) {
      case "flow":
        return this.#flow(detector, e);
      case "rate":
        return this.#rate(detector, e);
      case "novelty":
        return this.#novelty(detector, e);
    }
  }

  #flow(detector: FlowDetector, e: ActivityEvent): IndexedFinding | null {
    if (!(e.labels.includes(detector.to) && e.effect === "write")) return null;
    const key = `${detector.id}:${e.receipt}`;
    if (this.#found(key)) return null;
    // The latest access to `from` data before the write, if it is inside the window.
    const source = this.#sql
      .exec<Position & { receipt: string; action: string }>(
        "SELECT at, seq, n, receipt, action FROM activity_labels WHERE label = ? AND (at, seq, n) < (?, ?, ?) ORDER BY at DESC, seq DESC, n DESC LIMIT 1",
        detector.from,
        ...AT(e),
      )
      .toArray()[0];
    if (!source || source.at < e.at - detector.window_seconds * 1000) return null;
    const between = this.#sql
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

  #rate(detector: RateDetector, e: ActivityEvent): IndexedFinding | null {
    if (!matchesRate(detector, e)) return null;
    // Only the action that takes the window to exactly max + 1 can open a burst.
    if (this.#countInWindow(detector, e, detector.max + 2) !== detector.max + 1) return null;
    const filter = detector.action ? "AND action = ?" : "";
    const byAction = detector.action ? [detector.action] : [];
    const previous = this.#sql
      .exec<Position>(`SELECT at, seq, n FROM activity WHERE (at, seq, n) < (?, ?, ?) ${filter} ORDER BY at DESC, seq DESC, n DESC LIMIT 1`, ...AT(e), ...byAction)
      .toArray()[0];
    if (previous && this.#countInWindow(detector, previous, detector.max + 1) > detector.max) return null;
    const matching = this.#sql
      .exec<{ receipt: string }>(
        `SELECT receipt FROM activity WHERE at >= ? AND (at, seq, n) <= (?, ?, ?) ${filter} ORDER BY at, seq, n`,
        e.at - detector.window_seconds * 1000,
        ...AT(e),
        ...byAction,
      )
      .toArray();
    const key = `${detector.id}:${matching[0]?.receipt}`;
    if (this.#found(key)) return null;
    return {
      detector,
      at: e.at,
      receipts: matching.map((m) => m.receipt),
      key,
      summary: `${matching.length} ${detector.action ?? "actions"} within ${detector.window_seconds}s (more than ${detector.max})`,
    };
  }

  /** The matching actions in the window that ends at `p` (inclusive), counted up to `cap`. */
  #countInWindow(detector: RateDetector, p: Position, cap: number): number {
    return this.#sql
      .exec<{ c: number }>(
        `SELECT COUNT(*) AS c FROM (SELECT 1 FROM activity WHERE at >= ? AND (at, seq, n) <= (?, ?, ?) ${detector.action ? "AND action = ?" : ""} LIMIT ?)`,
        p.at - detector.window_seconds * 1000,
        ...AT(p),
        ...(detector.action ? [detector.action] : []),
        cap,
      )
      .one().c;
  }

  #novelty(detector: NoveltyDetector, e: ActivityEvent): IndexedFinding | null {
    const key = `${detector.id}:${e.tool}:${e.action}`;
    const previous = `SELECT seq FROM watched_sequences WHERE seq != ?1 AND (first_at, seq, first_n) < (?2, ?1, ?3)
                      ORDER BY first_at DESC, seq DESC, first_n DESC LIMIT ?4`;
    // One statement: already raised? how many sequences to compare with? the pair seen in them before?
    const verdict = this.#sql
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

  #found(key: string): boolean {
    return this.#sql.exec("SELECT 1 FROM findings WHERE key = ?", key).toArray().length > 0;
  }

  #rows(query: string, ...bindings: SqlStorageValue[]): ActivityEvent[] {
    return this.#sql
      .exec<ActivityRow>(query, ...bindings)
      .toArray()
      .map((r) => ({
        seq: r.seq,
        n: r.n,
        receipt: r.receipt,
        at: r.at,
        tool: r.tool,
        action: r.action,
        labels: JSON.parse(r.labels) as string[],
        effect: r.effect as ActivityEvent["effect"],
      }));
  }
}

function matchesRate(detector: RateDetector, e: ActivityEvent): boolean {
  return !detector.action || e.action === detector.action;
}

function positionKey(p: Position): string {
  return `${p.at}\u0000${p.seq}\u0000${p.n}`;
}
