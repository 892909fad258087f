import { z } from "zod";
import { RECEIPT_KINDS, unverifiedReceiptClaims } from "../tokens/receipt.js";
import { type ShadowEntry, shadowEntry } from "../tokens/shadow-entry.js";

// The sequence index's share of shadow mode (README: Shadow mode): the decisions a candidate
// would flip, across every sequence of a workflow, and the claim of the first sequence of a
// promoted version. SQL only; the SequenceIndex object calls these inside its transactions.

/** The index's second migration (sequence-index.ts appends it to its list). */
export const SHADOW_INDEX_MIGRATION = `CREATE TABLE shadow_decisions (
     seq TEXT NOT NULL, n INTEGER NOT NULL, workflow TEXT NOT NULL, candidate TEXT, at INTEGER NOT NULL,
     kind TEXT NOT NULL, flip TEXT NOT NULL, entry TEXT NOT NULL, receipt TEXT NOT NULL,
     PRIMARY KEY (seq, n)
   );
   CREATE INDEX shadow_decisions_newest ON shadow_decisions (workflow, at DESC, seq DESC, n DESC);
   CREATE TABLE promotions (
     workflow TEXT NOT NULL, version TEXT NOT NULL, from_version TEXT NOT NULL, seq TEXT NOT NULL, at INTEGER NOT NULL,
     PRIMARY KEY (workflow, version)
   );`;

export const ShadowIngestSchema = z.object({
  workflow: z.string().min(1).max(256),
  /** The last n of the delivered page; `receipts` are the ones of it whose shadow differs. */
  through: z.int().min(0),
  receipts: z.array(z.string().min(1)).max(500),
});

export const ShadowQuerySchema = z.object({
  workflow: z.string().min(1).max(256),
  /** The workflow's current version: whose promotion the answer names. */
  version: z.string().min(1).max(256),
  candidate: z.string().optional(),
  flip: z.enum(["decision", "code", "error"]).optional(),
  kind: z.enum(RECEIPT_KINDS).optional(),
  seq: z.string().optional(),
  /** Strictly older than this (at, seq, n): the previous page's last entry. */
  before: z.object({ at: z.number(), seq: z.string(), n: z.int() }).optional(),
  limit: z.int().min(1).max(100),
});

export const PromotionClaimSchema = z.object({
  workflow: z.string().min(1).max(256),
  version: z.string().min(1).max(256),
  from: z.string().min(1).max(256),
  seq: z.string().min(1).max(128),
  at: z.number(),
});

type Row = Record<string, SqlStorageValue> & { entry: string; receipt: string };

/** Stores each delivered receipt's flip once, by (seq, n): a redelivery changes nothing. */
export function ingestShadow(sql: SqlStorage, input: z.output<typeof ShadowIngestSchema>): void {
  for (const jws of input.receipts) {
    const entry = shadowEntry(unverifiedReceiptClaims(jws));
    if (!entry) continue;
    sql.exec(
      `INSERT INTO shadow_decisions (seq, n, workflow, candidate, at, kind, flip, entry, receipt)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (seq, n) DO NOTHING`,
      entry.seq, entry.n, input.workflow, entry.candidate, entry.at, entry.kind, entry.flip, JSON.stringify(entry), jws,
    );
  }
}

/** A page of a workflow's shadow flips, newest first, and whether another page follows. */
export function listShadow(sql: SqlStorage, q: z.output<typeof ShadowQuerySchema>): { entries: (ShadowEntry & { receipt: string })[]; more: boolean } {
  const where = ["workflow = ?"];
  const args: SqlStorageValue[] = [q.workflow];
  for (const column of ["candidate", "flip", "kind", "seq"] as const) {
    const value = q[column];
    if (value === undefined) continue;
    where.push(`${column} = ?`);
    args.push(value);
  }
  if (q.before) {
    where.push("(at, seq, n) < (?, ?, ?)");
    args.push(q.before.at, q.before.seq, q.before.n);
  }
  const rows = sql
    .exec<Row>(`SELECT * FROM shadow_decisions WHERE ${where.join(" AND ")} ORDER BY at DESC, seq DESC, n DESC LIMIT ?`, ...args, q.limit + 1)
    .toArray();
  return { entries: rows.slice(0, q.limit).map((r) => ({ ...(JSON.parse(r.entry) as ShadowEntry), receipt: r.receipt })), more: rows.length > q.limit };
}

/**
 * The first sequence of a promoted version claims the promotion, once: the first claim
 * wins (a primary key), and the same sequence asking again (an idempotent retry of its
 * start) is told it holds it.
 */
export function claimPromotion(sql: SqlStorage, c: z.output<typeof PromotionClaimSchema>): { first: boolean } {
  sql.exec(
    "INSERT INTO promotions (workflow, version, from_version, seq, at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (workflow, version) DO NOTHING",
    c.workflow, c.version, c.from, c.seq, c.at,
  );
  const holder = sql.exec<{ seq: string }>("SELECT seq FROM promotions WHERE workflow = ? AND version = ?", c.workflow, c.version).one();
  return { first: holder.seq === c.seq };
}

/** The sequence that claimed a version's promotion, if one has. */
export function promotionHolder(sql: SqlStorage, workflow: string, version: string): { seq: string; from: string; at: number } | null {
  const row = sql
    .exec<{ seq: string; from_version: string; at: number }>("SELECT seq, from_version, at FROM promotions WHERE workflow = ? AND version = ?", workflow, version)
    .toArray()[0];
  return row ? { seq: row.seq, from: row.from_version, at: row.at } : null;
}
