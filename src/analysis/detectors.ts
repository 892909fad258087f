import type { Detector } from "../config/detector-schema.js";

// The schema is configuration (config/detector-schema.ts); re-exported for the tests and benchmarks that read it here.
export { type Detector, DetectorSchema } from "../config/detector-schema.js";

/** How many of the actions between a flow's source and its write a flow signal names (the latest ones). */
export const FLOW_PATH_ACTIONS = 16;

/** One allowed action, as the analysis plane sees it: only what its receipt says. */
export interface ActivityEvent {
  seq: string;
  n: number;
  /** SHA-256 of the receipt (what a signal names). */
  receipt: string;
  /** Milliseconds since the epoch (the receipt's `at`). */
  at: number;
  tool: string;
  action: string;
  labels: string[];
  effect: "read" | "write" | null;
}

export interface Finding {
  detector: Detector;
  /** The receipts the finding rests on, oldest first. */
  receipts: string[];
  /** Deduplicates findings: one signal per key. */
  key: string;
  summary: string;
}

/** The timeline's order: time, then sequence id, then position in the sequence (code points, as SQLite compares). */
export function compareEvents(a: Pick<ActivityEvent, "at" | "seq" | "n">, b: Pick<ActivityEvent, "at" | "seq" | "n">): number {
  return a.at - b.at || (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0) || a.n - b.n;
}

/** The configured detectors of one kind. */
export type DetectorOf<K extends Detector["kind"]> = Extract<Detector, { kind: K }>;
type RateDetector = DetectorOf<"rate">;

/** Whether a rate detector counts the action (the incremental index asks the same question: rate-index.ts). */
export function matchesRate(detector: RateDetector, event: ActivityEvent): boolean {
  return !detector.action || event.action === detector.action;
}

/** The matching actions of `history` inside the window that ends at `at`. */
function inRateWindow(detector: RateDetector, history: readonly ActivityEvent[], at: number): ActivityEvent[] {
  const since = at - detector.window_seconds * 1000;
  return history.filter((e) => e.at >= since && matchesRate(detector, e));
}

/**
 * The timeline semantics, the reference the analyst's incremental index
 * (activity-index.ts) is held to: runs every detector on a new event against the watched party's history
 * (oldest first, the new event not included). Pure: receipts in, findings out.
 */
export function detect(detectors: readonly Detector[], history: readonly ActivityEvent[], event: ActivityEvent): Finding[] {
  const findings: Finding[] = [];
  for (const detector of detectors) {
    switch (detector.kind) {
      case "flow": {
        if (!(event.labels.includes(detector.to) && event.effect === "write")) break;
        const since = event.at - detector.window_seconds * 1000;
        const sourceIndex = history.findLastIndex((e) => e.labels.includes(detector.from));
        const source = history[sourceIndex];
        if (!source || source.at < since) break;
        // The path: the latest restricted access, the last actions after it, and the write.
        const between = history.slice(sourceIndex + 1).slice(-FLOW_PATH_ACTIONS);
        findings.push({
          detector,
          receipts: [source.receipt, ...between.map((e) => e.receipt), event.receipt],
          key: `${detector.id}:${event.receipt}`,
          summary: `${source.action} on ${detector.from} data, then ${event.action} to a ${detector.to} sink`,
        });
        break;
      }
      case "rate": {
        if (!matchesRate(detector, event)) break;
        const matching = [...inRateWindow(detector, history, event.at), event];
        if (matching.length <= detector.max) break;
        // One signal per burst: only the action that takes the window over `max` raises
        // one; while the burst lasts (the previous matching action was over too) it does not.
        const previous = history.findLastIndex((e) => matchesRate(detector, e));
        if (previous >= 0) {
          const before = history[previous] as ActivityEvent;
          if (inRateWindow(detector, history.slice(0, previous), before.at).length + 1 > detector.max) break;
        }
        findings.push({
          detector,
          receipts: matching.map((e) => e.receipt),
          key: `${detector.id}:${matching[0]?.receipt}`,
          summary: `${matching.length} ${detector.action ?? "actions"} within ${detector.window_seconds}s (more than ${detector.max})`,
        });
        break;
      }
      case "novelty": {
        const previous = [...new Set(history.filter((e) => e.seq !== event.seq).map((e) => e.seq))].slice(-detector.sequences);
        if (previous.length === 0) break;
        const seen = history.some((e) => previous.includes(e.seq) && e.tool === event.tool && e.action === event.action);
        if (seen) break;
        findings.push({
          detector,
          receipts: [event.receipt],
          key: `${detector.id}:${event.tool}:${event.action}`,
          summary: `${event.action} on ${event.tool}: not used in the last ${previous.length} sequence(s)`,
        });
        break;
      }
    }
  }
  return findings;
}
