import type {
  AcceptedApproval,
  AcceptedEvidence,
  AcceptedOutcome,
  CurrentCapability,
  Effect,
  LedgerState,
  NonceKind,
  SequenceRecord,
} from "../policy/types.js";
import { nextCapability } from "../policy/fold.js";
import { migrate } from "../storage/migrate.js";
import type { DecisionBody, LedgerAnswer, Refusal } from "./answers.js";
import { MIGRATIONS } from "./migrations.js";

/** The current capability as stored: its ledger view plus the token, for re-delivery. */
export interface StoredCapability extends CurrentCapability {
  token: string;
}

export interface StoredSequence {
  record: SequenceRecord;
  workflowDefinition: string;
  capability: StoredCapability | null;
}

export interface Head {
  n: number;
  hash: string;
}

export interface CommitInput {
  effects: readonly Effect[];
  receipt: { n: number; hash: string; jws: string; activity: boolean };
  /** The signed token of the capability the effects mint (their `capability` effect), for re-delivery. */
  capabilityToken: string | null;
  idempotency: { key: string; requestDigest: string; answer: LedgerAnswer } | null;
  /** Only for the first decision of a sequence. */
  create?: { record: SequenceRecord; workflowDefinition: string };
  now: number;
}

/** Thrown when storage contradicts a decision: the transaction rolls back, nothing is answered. */
export class LedgerInvariantError extends Error {
  override readonly name = "LedgerInvariantError";
}

/** Every SQL statement of a SequenceLedger, and nothing else. */
export class LedgerStore {
  readonly #storage: DurableObjectStorage;
  readonly #sql: SqlStorage;

  constructor(storage: DurableObjectStorage) {
    this.#storage = storage;
    this.#sql = storage.sql;
  }

  migrate(): void {
    migrate(this.#storage, MIGRATIONS);
  }

  load(): StoredSequence | null {
    const row = this.#sql
      .exec<{ record: string; workflow_definition: string; capability: string | null }>(
        "SELECT record, workflow_definition, capability FROM sequence WHERE id = 1",
      )
      .toArray()[0];
    if (!row) return null;
    return {
      record: JSON.parse(row.record),
      workflowDefinition: row.workflow_definition,
      capability: row.capability === null ? null : JSON.parse(row.capability),
    };
  }

  /**
   * The snapshot `decide()` reads; `nonceUsed` queries the UNIQUE index directly.
   * `approvalDigest` is left null: the ledger derives it (hashing is async).
   */
  state(stored: StoredSequence): LedgerState {
    const row = this.#sql
      .exec<{ status: "active" | "sealed"; seal_reason: "completed" | "revoked" | null; stage: number; rejection: string | null }>(
        "SELECT status, seal_reason, stage, rejection FROM sequence WHERE id = 1",
      )
      .one();
    const uses: number[] = [];
    const totals: number[] = [];
    for (const use of this.#sql.exec<{ grant_index: number; used: number; total: number }>(
      "SELECT grant_index, used, total FROM uses WHERE stage = ?",
      row.stage,
    )) {
      uses[use.grant_index] = use.used;
      totals[use.grant_index] = use.total;
    }
    for (let i = 0; i < uses.length; i++) {
      uses[i] ??= 0;
      totals[i] ??= 0;
    }
    const outcomes = this.#sql
      .exec<{ body: string }>("SELECT body FROM outcomes WHERE stage = ? ORDER BY position", row.stage)
      .toArray()
      .map((o) => JSON.parse(o.body) as AcceptedOutcome);
    const approvals = this.#sql
      .exec<{ body: string }>("SELECT body FROM approvals WHERE stage = ? ORDER BY approver", row.stage)
      .toArray()
      .map((a) => JSON.parse(a.body) as AcceptedApproval);
    const evidence = this.#sql
      .exec<{ body: string }>("SELECT body FROM evidence WHERE stage = ? ORDER BY position", row.stage)
      .toArray()
      .map((e) => JSON.parse(e.body) as AcceptedEvidence);
    const capability = stored.capability && {
      jti: stored.capability.jti,
      exp: stored.capability.exp,
      reissues: stored.capability.reissues,
    };
    const sql = this.#sql;
    return {
      record: stored.record,
      status: row.status,
      sealReason: row.seal_reason,
      stage: row.stage,
      uses,
      totals,
      evidence,
      outcomes,
      approvals,
      rejection: row.rejection === null ? null : JSON.parse(row.rejection),
      approvalDigest: null,
      capability,
      nonceUsed: (kind: NonceKind, jti: string) =>
        sql.exec("SELECT 1 FROM nonces WHERE kind = ? AND jti = ?", kind, jti).toArray().length > 0,
    };
  }

  head(): Head | null {
    return this.#sql.exec<{ n: number; hash: string }>("SELECT n, hash FROM receipts ORDER BY n DESC LIMIT 1").toArray()[0] ?? null;
  }

  /** The answer first given under an idempotency key, and the digest of the request it answered. */
  idempotent(key: string): { requestDigest: string; answer: LedgerAnswer } | null {
    const row = this.#sql
      .exec<{ request_digest: string; status: number; body: string }>(
        "SELECT request_digest, status, body FROM idempotency WHERE key = ?",
        key,
      )
      .toArray()[0];
    return row ? { requestDigest: row.request_digest, answer: storedAnswer(row.status, row.body) } : null;
  }

  receipts(after: number, limit: number): { n: number; jws: string }[] {
    return this.#sql
      .exec<{ n: number; jws: string }>("SELECT n, jws FROM receipts WHERE n > ? ORDER BY n LIMIT ?", after, limit)
      .toArray();
  }

  /**
   * Persists one decision atomically: its effects, its receipt, the capability it
   * minted and the idempotency record. Nonces are spent with INSERT … ON CONFLICT
   * DO NOTHING RETURNING against their primary key, so a second spend can never
   * pass silently even if a decision were made on a stale snapshot.
   */
  commit(input: CommitInput): void {
    this.#storage.transactionSync(() => {
      const sql = this.#sql;
      if (input.create) {
        sql.exec(
          "INSERT INTO sequence (id, record, workflow_definition, status, stage) VALUES (1, ?, ?, 'active', 0)",
          JSON.stringify(input.create.record),
          input.create.workflowDefinition,
        );
      }
      const { stage } = sql.exec<{ stage: number }>("SELECT stage FROM sequence WHERE id = 1").one();
      let current = stage;
      for (const effect of input.effects) {
        switch (effect.type) {
          case "use":
            sql.exec(
              `INSERT INTO uses (stage, grant_index, used, total) VALUES (?, ?, ?, ?)
               ON CONFLICT (stage, grant_index) DO UPDATE SET used = used + excluded.used, total = total + excluded.total`,
              current,
              effect.grant,
              effect.count ?? 1,
              effect.amount ?? 0,
            );
            break;
          case "spend": {
            const inserted = sql
              .exec(
                "INSERT INTO nonces (kind, jti, spent_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING RETURNING jti",
                effect.kind,
                effect.jti,
                input.now,
              )
              .toArray();
            if (inserted.length !== 1) throw new LedgerInvariantError(`${effect.kind} nonce ${effect.jti} already spent`);
            break;
          }
          case "accept_evidence": {
            const { count } = sql.exec<{ count: number }>("SELECT COUNT(*) AS count FROM evidence WHERE stage = ?", current).one();
            sql.exec("INSERT INTO evidence (stage, position, body) VALUES (?, ?, ?)", current, count, JSON.stringify(effect.evidence));
            break;
          }
          case "accept_approval":
            sql.exec(
              "INSERT INTO approvals (stage, approver, body) VALUES (?, ?, ?) ON CONFLICT (stage, approver) DO UPDATE SET body = excluded.body",
              current,
              effect.approval.approver,
              JSON.stringify(effect.approval),
            );
            break;
          case "accept_outcome": {
            const { count } = sql.exec<{ count: number }>("SELECT COUNT(*) AS count FROM outcomes WHERE stage = ?", current).one();
            sql.exec("INSERT INTO outcomes (stage, position, body) VALUES (?, ?, ?)", current, count, JSON.stringify(effect.outcome));
            break;
          }
          case "reject_gate":
            sql.exec("UPDATE sequence SET rejection = ? WHERE id = 1", JSON.stringify(effect.rejection));
            break;
          case "advance":
            // A new stage starts clean: its rows are keyed by stage; the rejection and the capability are not.
            current = effect.stage;
            sql.exec("UPDATE sequence SET stage = ?, rejection = NULL, capability = NULL WHERE id = 1", current);
            break;
          case "capability": {
            if (input.capabilityToken === null) throw new LedgerInvariantError("a capability effect without its signed token");
            const row = sql.exec<{ capability: string | null }>("SELECT capability FROM sequence WHERE id = 1").one();
            const previous = row.capability === null ? null : (JSON.parse(row.capability) as StoredCapability);
            const stored: StoredCapability = { ...nextCapability(previous, effect), token: input.capabilityToken };
            sql.exec("UPDATE sequence SET capability = ? WHERE id = 1", JSON.stringify(stored));
            break;
          }
          case "seal":
            sql.exec("UPDATE sequence SET status = 'sealed', seal_reason = ? WHERE id = 1", effect.reason);
            break;
        }
      }
      const head = this.head();
      if ((head ? head.n + 1 : 0) !== input.receipt.n) throw new LedgerInvariantError("receipt chain moved under a decision");
      sql.exec(
        "INSERT INTO receipts (n, hash, jws, activity) VALUES (?, ?, ?, ?)",
        input.receipt.n,
        input.receipt.hash,
        input.receipt.jws,
        input.receipt.activity ? 1 : 0,
      );
      if (input.idempotency) {
        sql.exec(
          "INSERT INTO idempotency (key, request_digest, status, body) VALUES (?, ?, ?, ?)",
          input.idempotency.key,
          input.idempotency.requestDigest,
          TYPED_ANSWER,
          JSON.stringify(input.idempotency.answer),
        );
      }
    });
  }
}

/**
 * An idempotency record's `status` when its `body` is the typed answer (JSON of a
 * LedgerAnswer). Records written before answers were typed hold the HTTP status
 * and the rendered body; they are read back as the answer that renders to them.
 */
const TYPED_ANSWER = 0;

function storedAnswer(status: number, body: string): LedgerAnswer {
  if (status === TYPED_ANSWER) return JSON.parse(body) as LedgerAnswer;
  const rendered = JSON.parse(body) as { error?: Refusal };
  if (rendered.error) return { kind: "refused", error: rendered.error };
  return { kind: "decided", started: status === 201, body: rendered as DecisionBody };
}
