import { env, runInDurableObject } from "cloudflare:test";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { OutboxMemory } from "../src/ledger/outbox-memory.js";
import { OutboxStore } from "../src/ledger/outbox-store.js";

// OutboxMemory answers a run from memory what OutboxStore reads from SQL (outbox-memory.ts).
// Whatever the order of commits, deliveries and restarts, both must give the same pages and
// cursors, and SQL must never hold a cursor ahead of what its target acknowledged.

type Step =
  | { op: "commit" }
  | { op: "deliver"; target: number; back: number; failed: boolean }
  | { op: "page"; back: number; limit: number }
  | { op: "commit-with-late" }
  | { op: "restart" };

const TARGETS = [
  { name: "actor:a", redeliverable: true },
  { name: "index", redeliverable: true },
  { name: "webhook:w", redeliverable: false },
] as const;

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ op: "commit" as const }) },
  { weight: 1, arbitrary: fc.constant({ op: "commit-with-late" as const }) },
  {
    weight: 3,
    arbitrary: fc.record({ op: fc.constant("deliver" as const), target: fc.nat({ max: TARGETS.length - 1 }), back: fc.nat({ max: 4 }), failed: fc.boolean() }),
  },
  { weight: 3, arbitrary: fc.record({ op: fc.constant("page" as const), back: fc.nat({ max: 6 }), limit: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 1, arbitrary: fc.constant({ op: "restart" as const }) },
);

describe("the outbox's memory answers what its SQL would", () => {
  it("pages, cursors and what is written, over random commits, deliveries and restarts", async () => {
    const stub = env.SEQUENCES.get(env.SEQUENCES.newUniqueId());
    await runInDurableObject(stub, async (_instance, state) => {
      const sql = state.storage.sql;
      let round = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(step, { maxLength: 60 }), async (steps) => {
          round++;
          sql.exec("DELETE FROM receipts");
          sql.exec("DELETE FROM delivery");
          const store = new OutboxStore(sql);
          let memory = new OutboxMemory(sql);
          let head = -1;
          // What each target acknowledged, as the receivers know it.
          const acknowledged = new Map<string, number>();
          const commit = () => {
            head++;
            const row = { n: head, jws: `r${round}.${head}`, activity: head % 2 };
            sql.exec("INSERT INTO receipts (n, hash, jws, activity) VALUES (?, ?, ?, ?)", row.n, `h${round}.${row.n}`, row.jws, row.activity);
            memory.committed(row);
          };
          for (const s of steps) {
            switch (s.op) {
              case "commit":
                commit();
                break;
              case "commit-with-late":
                memory.writeLate();
                commit();
                break;
              case "deliver": {
                const target = TARGETS[s.target] as (typeof TARGETS)[number];
                const before = memory.states().get(target.name)?.through ?? -1;
                const through = Math.max(before, head - s.back);
                const next = s.failed ? { through: before, attempts: 1, nextAt: 1 } : { through, attempts: 0, nextAt: 0 };
                memory.record(target, next);
                acknowledged.set(target.name, Math.max(acknowledged.get(target.name) ?? -1, next.through));
                break;
              }
              case "page":
                // Pages near the head, where the kept receipts begin (counted back from it, to -1).
                expect(memory.page(Math.max(-1, head - s.back), s.limit)).toEqual(store.page(Math.max(-1, head - s.back), s.limit));
                break;
              case "restart":
                memory = new OutboxMemory(sql);
                break;
            }
            const stored = store.states();
            for (const t of TARGETS) {
              const inSql = stored.get(t.name);
              // SQL is never ahead of an acknowledgement; a webhook's and a failing target's cursor is never behind its memory.
              if (inSql) expect(inSql.through).toBeLessThanOrEqual(acknowledged.get(t.name) ?? -1);
              const inMemory = memory.states().get(t.name);
              if (inMemory && (!t.redeliverable || inMemory.attempts > 0)) expect(inSql).toEqual(inMemory);
            }
          }
          // After the late cursors are written, SQL and memory agree on every cursor.
          memory.writeLate();
          expect(store.states()).toEqual(memory.states());
        }),
        { numRuns: 200 },
      );
    });
  });
});
