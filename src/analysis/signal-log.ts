import type { Keyring } from "../tokens/keys.js";
import { TYP } from "../tokens/kinds.js";
import { receiptHash } from "../tokens/receipt.js";

/** Log entries a read returns by default, and at most. */
const LOG_PAGE = 100;
const LOG_PAGE_MAX = 1_000;

/** One entry of an analyst's signed, hash-chained log of what happened to its signals. */
export interface LogEntry extends Record<string, SqlStorageValue> {
  n: number;
  hash: string;
  jws: string;
}

/** The latest entry, which the next one links to. */
export function logHead(sql: SqlStorage): LogEntry | null {
  return sql.exec<LogEntry>("SELECT n, hash, jws FROM log ORDER BY n DESC LIMIT 1").toArray()[0] ?? null;
}

/** Signs the entry after `head` for one event of the party `scope` names; it is stored with appendLog. */
export async function signLogEntry(
  keyring: Keyring,
  author: { issuer: string; scope: string | null },
  head: LogEntry | null,
  event: Record<string, unknown>,
): Promise<LogEntry> {
  const n = head ? head.n + 1 : 0;
  const jws = await keyring.sign({ iss: author.issuer, scope: author.scope, n, prev: head?.hash ?? null, at: Date.now(), kind: "signal", ...event }, TYP.receipt);
  return { n, hash: await receiptHash(jws), jws };
}

export function appendLog(sql: SqlStorage, entries: readonly LogEntry[]): void {
  for (const e of entries) sql.exec("INSERT INTO log (n, hash, jws) VALUES (?, ?, ?)", e.n, e.hash, e.jws);
}

/**
 * The log, oldest first: the entries after `after`, or the latest ones; at most `limit`, so a
 * read costs the same however long the log grows (page through it with `after`).
 */
export function readLog(sql: SqlStorage, page: { after?: number; limit?: number }): string[] {
  const limit = Math.min(Math.max(page.limit ?? LOG_PAGE, 1), LOG_PAGE_MAX);
  const rows =
    page.after === undefined
      ? sql.exec<{ jws: string }>("SELECT jws FROM (SELECT n, jws FROM log ORDER BY n DESC LIMIT ?) ORDER BY n", limit).toArray()
      : sql.exec<{ jws: string }>("SELECT jws FROM log WHERE n > ? ORDER BY n LIMIT ?", page.after, limit).toArray();
  return rows.map((r) => r.jws);
}
