import { DurableObject } from "cloudflare:workers";
import { z } from "zod";
import { migrate } from "../storage/migrate.js";
import { unverifiedReceiptClaims } from "../tokens/receipt.js";
import type { ShadowEntry } from "../tokens/shadow-entry.js";
import { type IndexedState, type Waiting, applyReceipt } from "./sequence-index-rules.js";
import {
  PromotionClaimSchema,
  SHADOW_INDEX_MIGRATION,
  ShadowIngestSchema,
  ShadowQuerySchema,
  claimPromotion,
  ingestShadow,
  listShadow,
  promotionHolder,
} from "./shadow-index.js";

/** The index's storage, numbered and append-only (storage/migrate.ts). */
const INDEX_MIGRATIONS = [
  `CREATE TABLE sequences (
     seq TEXT PRIMARY KEY, workflow TEXT NOT NULL, actor TEXT NOT NULL, subject TEXT NOT NULL, orchestrator TEXT NOT NULL,
     created INTEGER NOT NULL, status TEXT NOT NULL, seal_reason TEXT, stage TEXT NOT NULL, updated INTEGER NOT NULL,
     waiting TEXT, waiting_group TEXT, through INTEGER NOT NULL
   );
   CREATE INDEX sequences_newest ON sequences (created DESC, seq DESC);
   CREATE INDEX sequences_waiting ON sequences (waiting_group, created DESC) WHERE waiting_group IS NOT NULL;`,
  // 2: shadow mode's flips across sequences, and the first sequence of each promoted version.
  SHADOW_INDEX_MIGRATION,
];

export const IndexIngestSchema = z.object({
  sequence: z.object({
    seq: z.string().min(1).max(128),
    workflow: z.string().min(1).max(256),
    actor: z.string().min(1).max(256),
    subject: z.string().min(1).max(256),
    orchestrator: z.string().min(1).max(256),
    created: z.number(),
  }),
  /** The last n of the delivered page; the receipts are the ones of it the index reads. */
  through: z.int().min(0),
  receipts: z.array(z.string().min(1)).max(500),
});

export const IndexQuerySchema = z.object({
  workflow: z.string().optional(),
  status: z.enum(["active", "sealed"]).optional(),
  actor: z.string().optional(),
  subject: z.string().optional(),
  orchestrator: z.string().optional(),
  waiting: z.literal("approval").optional(),
  group: z.string().optional(),
  /** Strictly older than this (created, seq): the previous page's last row. */
  before: z.object({ created: z.number(), seq: z.string() }).optional(),
  limit: z.int().min(1).max(100),
});

export interface IndexedSequence {
  seq: string;
  workflow: string;
  actor: string;
  subject: string;
  orchestrator: string;
  created_at: number;
  updated_at: number;
  status: "active" | "sealed";
  seal_reason: string | null;
  stage: string;
  waiting: Waiting | null;
}

type Row = Record<string, SqlStorageValue> & {
  seq: string; workflow: string; actor: string; subject: string; orchestrator: string; created: number; updated: number;
  status: "active" | "sealed"; seal_reason: string | null; stage: string; waiting: string | null; through: number;
};

/**
 * Every sequence of this deployment, one row each, kept up to date by the ledgers'
 * outboxes (start, stage and status changes, gates waiting for approvals), so the
 * console lists sequences without visiting each ledger. Ingestion is idempotent by
 * (seq, n): a receipt at or below the row's `through` was applied and changes nothing.
 */
export class SequenceIndex extends DurableObject<Env> {
  readonly #sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    migrate(ctx.storage, INDEX_MIGRATIONS);
  }

  async ingest(raw: z.input<typeof IndexIngestSchema>): Promise<{ through: number }> {
    const { sequence: s, through, receipts } = IndexIngestSchema.parse(raw);
    // Nothing awaits between the read and the write: one delivery at a time per row.
    this.ctx.storage.transactionSync(() => {
      const found = this.#sql.exec<Row>("SELECT * FROM sequences WHERE seq = ?", s.seq).toArray()[0];
      let state: IndexedState = found
        ? { status: found.status, sealReason: found.seal_reason, stage: found.stage, updated: found.updated, waiting: found.waiting === null ? null : JSON.parse(found.waiting) }
        : { status: "active", sealReason: null, stage: "", updated: s.created, waiting: null };
      let applied = found?.through ?? -1;
      for (const jws of receipts) {
        const claims = unverifiedReceiptClaims(jws);
        if (claims.seq !== s.seq || claims.n <= applied) continue;
        state = applyReceipt(state, claims);
        applied = claims.n;
      }
      applied = Math.max(applied, through);
      this.#sql.exec(
        `INSERT INTO sequences (seq, workflow, actor, subject, orchestrator, created, status, seal_reason, stage, updated, waiting, waiting_group, through)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (seq) DO UPDATE SET status = excluded.status, seal_reason = excluded.seal_reason, stage = excluded.stage,
           updated = excluded.updated, waiting = excluded.waiting, waiting_group = excluded.waiting_group, through = excluded.through`,
        s.seq, s.workflow, s.actor, s.subject, s.orchestrator, s.created, state.status, state.sealReason, state.stage, state.updated,
        state.waiting === null ? null : JSON.stringify(state.waiting), state.waiting?.group ?? null, applied,
      );
    });
    return { through };
  }

  /** A page of sequences, newest first, and whether another page follows. */
  async list(raw: z.input<typeof IndexQuerySchema>): Promise<{ sequences: IndexedSequence[]; more: boolean }> {
    const q = IndexQuerySchema.parse(raw);
    const where: string[] = [];
    const args: SqlStorageValue[] = [];
    const equal = (column: string, value: string | undefined) => {
      if (value === undefined) return;
      where.push(`${column} = ?`);
      args.push(value);
    };
    equal("workflow", q.workflow);
    equal("status", q.status);
    equal("actor", q.actor);
    equal("subject", q.subject);
    equal("orchestrator", q.orchestrator);
    if (q.waiting === "approval") where.push("waiting_group IS NOT NULL");
    equal("waiting_group", q.group);
    if (q.before) {
      where.push("(created, seq) < (?, ?)");
      args.push(q.before.created, q.before.seq);
    }
    const rows = this.#sql
      .exec<Row>(`SELECT * FROM sequences ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY created DESC, seq DESC LIMIT ?`, ...args, q.limit + 1)
      .toArray();
    return { sequences: rows.slice(0, q.limit).map(listed), more: rows.length > q.limit };
  }

  /** Takes the receipts of one sequence whose shadow decision differs (outbox-targets.ts shadowTarget). */
  async ingestShadow(raw: z.input<typeof ShadowIngestSchema>): Promise<{ through: number }> {
    const input = ShadowIngestSchema.parse(raw);
    this.ctx.storage.transactionSync(() => ingestShadow(this.#sql, input));
    return { through: input.through };
  }

  /** A page of a workflow's shadow flips, newest first (GET /v1/workflows/:id/shadow), and who claimed its promotion. */
  async shadow(raw: z.input<typeof ShadowQuerySchema>): Promise<{ entries: (ShadowEntry & { receipt: string })[]; more: boolean; promotion: { seq: string; from: string; at: number } | null }> {
    const q = ShadowQuerySchema.parse(raw);
    return { ...listShadow(this.#sql, q), promotion: promotionHolder(this.#sql, q.workflow, q.version) };
  }

  /** Whether `seq` is the first sequence of a promoted version (ledger/promotion.ts). */
  async claimPromotion(raw: z.input<typeof PromotionClaimSchema>): Promise<{ first: boolean }> {
    const claim = PromotionClaimSchema.parse(raw);
    let result = { first: false };
    this.ctx.storage.transactionSync(() => {
      result = claimPromotion(this.#sql, claim);
    });
    return result;
  }
}

function listed(r: Row): IndexedSequence {
  return {
    seq: r.seq,
    workflow: r.workflow,
    actor: r.actor,
    subject: r.subject,
    orchestrator: r.orchestrator,
    created_at: r.created,
    updated_at: r.updated,
    status: r.status,
    seal_reason: r.seal_reason,
    stage: r.stage,
    waiting: r.waiting === null ? null : (JSON.parse(r.waiting) as Waiting),
  };
}
