import { z } from "zod";
import { Identifier } from "../policy/workflow-schema.js";

/**
 * Detectors of the analysis plane, as configuration. Each has an id (what
 * workflows declare as a signal input) and a version (named in every signal).
 * `by` says whose activity it watches: the actor's (across its sequences) or
 * the subject's (across every agent acting for them). Configuration, so it
 * lives beside the rest of the configuration's schema; the analysis plane
 * (analysis/detectors.ts) runs what it declares.
 */
const Common = {
  id: Identifier,
  version: z.int().min(1),
  by: z.enum(["actor", "subject"]).default("actor"),
  severity: z.enum(["low", "medium", "high"]).default("medium"),
  signal_ttl_seconds: z.int().min(60).max(30 * 86_400).default(86_400),
};

export const DetectorSchema = z.discriminatedUnion("kind", [
  /**
   * An action on a resource labelled `from`, then — within the window — one that writes to a sink
   * labelled `to`. The signal names the latest such access, the last FLOW_PATH_ACTIONS actions
   * between it and the write, and the write: a path of bounded size however busy the party was.
   */
  z.strictObject({ ...Common, kind: z.literal("flow"), from: Identifier, to: Identifier, window_seconds: z.int().min(1).max(30 * 86_400) }),
  /**
   * More than `max` allowed actions (of `action`, or of any) within the window: one signal per
   * burst, raised by the action that takes the window over `max`, naming the `max + 1` in it.
   * `max` is bounded because the analyst counts at most `max + 1` actions per decision.
   */
  z.strictObject({ ...Common, kind: z.literal("rate"), action: z.string().min(1).max(128).optional(), max: z.int().min(1).max(10_000), window_seconds: z.int().min(1).max(30 * 86_400) }),
  /** An action/tool pair not used in the watched party's last `sequences` sequences (needs at least one before). */
  z.strictObject({ ...Common, kind: z.literal("novelty"), sequences: z.int().min(1).max(1000) }),
]);
export type Detector = z.output<typeof DetectorSchema>;
