import { describe, expect, it } from "vitest";
import { type ActivityEvent, DetectorSchema, detect } from "../../src/analysis/detectors.js";

const T0 = Date.UTC(2026, 10, 22, 12);
let counter = 0;
function event(overrides: Partial<ActivityEvent>): ActivityEvent {
  counter++;
  return { seq: "s1", n: counter, receipt: `r${counter}`, at: T0, tool: "db", action: "db.read", labels: [], effect: null, ...overrides };
}

const flow = DetectorSchema.parse({ id: "flow.x", version: 2, kind: "flow", from: "restricted", to: "public", window_seconds: 3600 });
const rate = DetectorSchema.parse({ id: "rate.x", version: 1, kind: "rate", action: "db.read", max: 3, window_seconds: 60 });
const novelty = DetectorSchema.parse({ id: "novelty.x", version: 1, kind: "novelty", sequences: 2 });

describe("detectors see only receipts", () => {
  it("flow: restricted then a public write within the window names the path; outside the window or a read does not", () => {
    const read = event({ labels: ["restricted"], effect: "read" });
    const middle = event({ tool: "model", action: "summary.create", at: T0 + 1000 });
    const write = event({ tool: "dash", action: "publish", labels: ["public"], effect: "write", at: T0 + 2000 });
    expect(detect([flow], [read, middle], write)).toEqual([
      expect.objectContaining({ receipts: [read.receipt, middle.receipt, write.receipt], key: `flow.x:${write.receipt}` }),
    ]);
    expect(detect([flow], [read], { ...write, effect: "read" })).toEqual([]);
    expect(detect([flow], [read], { ...write, at: T0 + 3601_000 })).toEqual([]);
    expect(detect([flow], [], write)).toEqual([]);
  });

  it("rate: more than max of the action within the window", () => {
    const history = [event({ at: T0 }), event({ at: T0 + 10 }), event({ at: T0 + 20 })];
    expect(detect([rate], history.slice(0, 2), event({ at: T0 + 30 }))).toEqual([]);
    expect(detect([rate], history, event({ at: T0 + 30 }))).toHaveLength(1);
    expect(detect([rate], history, event({ at: T0 + 61_000 }))).toEqual([]);
    expect(detect([rate], history, event({ at: T0 + 30, action: "db.write" }))).toEqual([]);
  });

  it("novelty: a tool/action pair unseen in the last M sequences; never on the first sequence", () => {
    const old = [event({ seq: "a", tool: "db", action: "db.read" }), event({ seq: "b", tool: "db", action: "db.read" })];
    expect(detect([novelty], [], event({ seq: "a" }))).toEqual([]);
    expect(detect([novelty], old, event({ seq: "c", tool: "db", action: "db.read" }))).toEqual([]);
    expect(detect([novelty], old, event({ seq: "c", tool: "mail", action: "mail.send" }))).toEqual([
      expect.objectContaining({ key: "novelty.x:mail:mail.send" }),
    ]);
  });
});
