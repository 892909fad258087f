import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { GroupCommit } from "../../src/storage/group-commit.js";

/** A GroupCommit over a real object's SQLite: each item is a row; a negative one breaks the table's CHECK. */
function rows(state: DurableObjectState) {
  state.storage.sql.exec("CREATE TABLE IF NOT EXISTS gc (k INTEGER PRIMARY KEY CHECK (k >= 0))");
  const batches: number[][] = [];
  const commit = new GroupCommit<number, string>((batch) =>
    state.storage.transactionSync(() => {
      batches.push([...batch]);
      return batch.map((k) => {
        state.storage.sql.exec("INSERT INTO gc (k) VALUES (?)", k);
        return `row ${k}`;
      });
    }),
  );
  const stored = () => state.storage.sql.exec<{ k: number }>("SELECT k FROM gc ORDER BY k").toArray().map((r) => r.k);
  return { commit, batches, stored };
}

const object = (name: string) => env.SEQUENCE_INDEX.get(env.SEQUENCE_INDEX.idFromName(name));

describe("group commit", () => {
  it("commits the calls that arrive together in one transaction, each answered with its own result", async () => {
    await runInDurableObject(object("gc-together"), async (_instance, state) => {
      const { commit, batches, stored } = rows(state);
      expect(await Promise.all([1, 2, 3].map((k) => commit.take(k)))).toEqual(["row 1", "row 2", "row 3"]);
      expect(batches).toEqual([[1, 2, 3]]);
      // A call after the commit starts the next batch.
      expect(await commit.take(4)).toBe("row 4");
      expect(batches).toEqual([[1, 2, 3], [4]]);
      expect(stored()).toEqual([1, 2, 3, 4]);
    });
  });

  it("answers no call before the commit that holds its item", async () => {
    await runInDurableObject(object("gc-order"), async (_instance, state) => {
      const { commit, stored } = rows(state);
      const seen: number[][] = [];
      await Promise.all([5, 6].map(async (k) => {
        await commit.take(k);
        seen.push(stored());
      }));
      expect(seen).toEqual([[5, 6], [5, 6]]);
    });
  });

  it("fails only the failing call: its batch is rolled back and the others are committed one by one", async () => {
    await runInDurableObject(object("gc-failure"), async (_instance, state) => {
      const { commit, batches, stored } = rows(state);
      const settled = await Promise.allSettled([7, -1, 8].map((k) => commit.take(k)));
      expect(settled.map((s) => s.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
      expect(settled[1]).toMatchObject({ reason: expect.objectContaining({ message: expect.stringMatching(/CHECK constraint failed/) }) });
      expect(batches).toEqual([[7, -1, 8], [7], [-1], [8]]);
      expect(stored()).toEqual([7, 8]);
      // A lone failing call fails alone, and is not tried twice.
      await expect(commit.take(-2)).rejects.toThrow(/CHECK constraint failed/);
      expect(batches.at(-1)).toEqual([-2]);
      expect(batches).toHaveLength(5);
    });
  });
});
