import { z } from "zod";
import { Identifier } from "../policy/workflow-schema.js";

/**
 * Detectors of the analysis plane, as configuration. Each has an id (what
 * workflows declare as a signal input) and a version (named in every signal).
 * `by` says whose activity it watches: the actor's (across its sequences) or
 * the subject's (across every agent acting for them).
 */
const Common = {
  id: Identifier,
  version: z.int().min(1),
  by: z.enum(["actor", "subject"]).default("actor"),
  severity: z.enum(["low", "medium", "high"]).default("medium"),
  signal_ttl_seconds: z.int().min(60).max(30 * 86_400).default(86_400),
};

export const DetectorSchema = z.discriminatedUnion("kind", [
  /** An action on a resource labelled `from`, then — within the window — one that writes to a sink labelled `to`. */
  z.strictObject({ ...Common, kind: z.literal("flow"), from: Identifier, to: Identifier, window_seconds: z.int().min(1).max(30 * 86_400) }),
  /** More than `max` allowed actions (of `action`, or of any) within the window. */
  z.strictObject({ ...Common, kind: z.literal("rate"), action: z.string().min(1).max(128).optional(), max: z.int().min(1), window_seconds: z.int().min(1).max(30 * 86_400) }),
  /** An action/tool pair not used in the watched party's last `sequences` sequences (needs at least one before). */
  z.strictObject({ ...Common, kind: z.literal("novelty"), sequences: z.int().min(1).max(1000) }),
]);
export type Detector = z.output<typeof DetectorSchema>;

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

/**
 * Runs every detector on a new event against the watched party's history
 * (oldest first, the new event not included). Pure: receipts in, findings out.
 */
export function detect(detectors: readonly Detector[], history: readonly ActivityEvent[], event: ActivityEvent): Finding[] {
  const findings: Finding[] = [];
  for (const detector of detectors) {
    switch (detector.kind) {
      case "flow": {
        if (!(event.labels.includes(detector.to) && event.effect === "write")) break;
        const since = event.at - detector.window_seconds * 1000;
        const sourceIndex = history.findIndex((e) => e.at >= since && e.labels.includes(detector.from));
        if (sourceIndex < 0) break;
        // The path: the restricted access, everything the party did after it, and the write.
        const path = [...history.slice(sourceIndex), event];
        findings.push({
          detector,
          receipts: path.map((e) => e.receipt),
          key: `${detector.id}:${event.receipt}`,
          summary: `${history[sourceIndex]?.action} on ${detector.from} data, then ${event.action} to a ${detector.to} sink`,
        });
        break;
      }
      case "rate": {
        const since = event.at - detector.window_seconds * 1000;
        const matching = [...history, event].filter((e) => e.at >= since && (!detector.action || e.action === detector.action));
        if (matching.length <= detector.max) break;
        // One signal per window: keyed by the first event of the burst.
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
