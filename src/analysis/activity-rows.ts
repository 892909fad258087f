import type { ActivityEvent, Finding } from "./detectors.js";

/** A finding with the time of the action it was judged on (when its key may be forgotten). */
export interface IndexedFinding extends Finding {
  at: number;
}

/** Where an action stands on the timeline: the key of every table of the index. */
export type Position = Pick<ActivityEvent, "at" | "seq" | "n">;

/** A position as the three bindings of an `(at, seq, n)` row value. */
export const AT = (p: Position) => [p.at, p.seq, p.n] as const;

/** A position as one string, to deduplicate actions in a map. */
export function positionKey(p: Position): string {
  return `${p.at}\u0000${p.seq}\u0000${p.n}`;
}

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

/** The `activity` rows a query selects (`SELECT *` or `a.*`), as events. */
export function readActivity(sql: SqlStorage, query: string, ...bindings: SqlStorageValue[]): ActivityEvent[] {
  return sql
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

/** Whether a finding with this key was recorded (a key, once recorded, is never raised again). */
export function findingRecorded(sql: SqlStorage, key: string): boolean {
  return sql.exec("SELECT 1 FROM findings WHERE key = ?", key).toArray().length > 0;
}
