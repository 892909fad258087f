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
    return this.snapshot()?.stored ?? null;
  }

  /**
   * The record, the current stage's ledger and the head, in one statement. Why one: on a
   * sequence's object (usually opened cold for each decision) every statement is dear, and
   * under `wrangler dev` each is also a span its trace collector stores; this used to be
   * seven (the record, the stage row, uses, outcomes, approvals, evidence, the head).
   * `nonceUsed` queries the UNIQUE index directly; `approvalDigest` is left null: the ledger
   * derives it (hashing is async).
   */
  snapshot(): { stored: StoredSequence; state: LedgerState; head: Head | null } | null {
    const row = this.#sql.exec<SnapshotRow>(SNAPSHOT).toArray()[0];
    if (!row) return null;
    const stored: StoredSequence = {
      record: JSON.parse(row.record),
      workflowDefinition: row.workflow_definition,
      capability: row.capability === null ? null : JSON.parse(row.capability),
    };
    const uses: number[] = [];
    const totals: number[] = [];
    for (const [grant, used, total] of JSON.parse(row.uses) as [number, number, number][]) {
      uses[grant] = used;
      totals[grant] = total;
    }
    for (let i = 0; i < uses.length; i++) {
      uses[i] ??= 0;
      totals[i] ??= 0;
    }
    const capability = stored.capability && {
      jti: stored.capability.jti,
      exp: stored.capability.exp,
      reissues: stored.capability.reissues,
    };
    const sql = this.#sql;
    const state: LedgerState = {
      record: stored.record,
      status: row.status,
      sealReason: row.seal_reason,
      stage: row.stage,
      uses,
      totals,
      evidence: JSON.parse(row.evidence) as AcceptedEvidence[],
      outcomes: JSON.parse(row.outcomes) as AcceptedOutcome[],
      approvals: JSON.parse(row.approvals) as AcceptedApproval[],
      rejection: row.rejection === null ? null : JSON.parse(row.rejection),
      approvalDigest: null,
      capability,
      nonceUsed: (kind: NonceKind, jti: string) =>
        sql.exec("SELECT 1 FROM nonces WHERE kind = ? AND jti = ?", kind, jti).toArray().length > 0,
    };
    const head = row.head_n === null || row.head_hash === null ? null : { n: row.head_n, hash: row.head_hash };
    return { stored, state, head };
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
      // The stage, the head and the capability as this transaction sees them, in one statement.
      const base = sql
        .exec<{ stage: number; head: number | null; capability: string | null }>(
          "SELECT stage, capability, (SELECT MAX(n) FROM receipts) AS head FROM sequence WHERE id = 1",
        )
        .one();
      if ((base.head === null ? 0 : base.head + 1) !== input.receipt.n) throw new LedgerInvariantError("receipt chain moved under a decision");
      let current = base.stage;
      let capability = base.capability === null ? null : (JSON.parse(base.capability) as StoredCapability);
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
            capability = null;
            sql.exec("UPDATE sequence SET stage = ?, rejection = NULL, capability = NULL WHERE id = 1", current);
            break;
          case "capability": {
            if (input.capabilityToken === null) throw new LedgerInvariantError("a capability effect without its signed token");
            capability = { ...nextCapability(capability, effect), token: input.capabilityToken };
            sql.exec("UPDATE sequence SET capability = ? WHERE id = 1", JSON.stringify(capability));
            break;
          }
          case "seal":
            sql.exec("UPDATE sequence SET status = 'sealed', seal_reason = ? WHERE id = 1", effect.reason);
            break;
        }
      }
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

type SnapshotRow = {
  record: string;
  workflow_definition: string;
  capability: string | null;
  status: "active" | "sealed";
  seal_reason: "completed" | "revoked" | null;
  stage: number;
  rejection: string | null;
  uses: string;
  outcomes: string;
  approvals: string;
  evidence: string;
  head_n: number | null;
  head_hash: string | null;
};

/** The current stage's rows as JSON arrays (bodies are stored as JSON), in the order decide() reads them. */
const SNAPSHOT = `SELECT s.record, s.workflow_definition, s.capability, s.status, s.seal_reason, s.stage, s.rejection,
  (SELECT json_group_array(json_array(grant_index, used, total)) FROM uses WHERE stage = s.stage) AS uses,
  (SELECT json_group_array(json(body) ORDER BY position) FROM outcomes WHERE stage = s.stage) AS outcomes,
  (SELECT json_group_array(json(body) ORDER BY approver) FROM approvals WHERE stage = s.stage) AS approvals,
  (SELECT json_group_array(json(body) ORDER BY position) FROM evidence WHERE stage = s.stage) AS evidence,
  h.n AS head_n, h.hash AS head_hash
FROM sequence s LEFT JOIN (SELECT n, hash FROM receipts ORDER BY n DESC LIMIT 1) h
WHERE s.id = 1`;

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
