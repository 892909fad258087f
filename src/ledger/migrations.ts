/**
 * Numbered, append-only schema migrations of a SequenceLedger. Never edit a
 * shipped entry: objects created by it exist in production. Add the next one.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: the sequence record, its stage ledger, nonces, receipts and idempotency records.
  `CREATE TABLE sequence (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     record TEXT NOT NULL,
     workflow_definition TEXT NOT NULL,
     status TEXT NOT NULL CHECK (status IN ('active', 'sealed')),
     seal_reason TEXT,
     stage INTEGER NOT NULL,
     capability TEXT
   );
   CREATE TABLE uses (
     stage INTEGER NOT NULL,
     grant_index INTEGER NOT NULL,
     used INTEGER NOT NULL,
     PRIMARY KEY (stage, grant_index)
   );
   CREATE TABLE evidence (
     stage INTEGER NOT NULL,
     position INTEGER NOT NULL,
     body TEXT NOT NULL,
     PRIMARY KEY (stage, position)
   );
   CREATE TABLE nonces (
     kind TEXT NOT NULL,
     jti TEXT NOT NULL,
     spent_at INTEGER NOT NULL,
     PRIMARY KEY (kind, jti)
   );
   CREATE TABLE receipts (
     n INTEGER PRIMARY KEY,
     hash TEXT NOT NULL UNIQUE,
     jws TEXT NOT NULL
   );
   CREATE TABLE idempotency (
     key TEXT PRIMARY KEY,
     request_digest TEXT NOT NULL,
     status INTEGER NOT NULL,
     body TEXT NOT NULL
   );`,
  // 2: cumulative sums per grant, approvals of the pending gate (one per approver), a gate's rejection.
  `ALTER TABLE uses ADD COLUMN total REAL NOT NULL DEFAULT 0;
   CREATE TABLE approvals (
     stage INTEGER NOT NULL,
     approver TEXT NOT NULL,
     body TEXT NOT NULL,
     PRIMARY KEY (stage, approver)
   );
   ALTER TABLE sequence ADD COLUMN rejection TEXT;`,
  // 3: tools' successful outcomes accepted towards the pending gate.
  `CREATE TABLE outcomes (
     stage INTEGER NOT NULL,
     position INTEGER NOT NULL,
     body TEXT NOT NULL,
     PRIMARY KEY (stage, position)
   );`,
  // 4: the outbox cursor: how far each analysis target has taken this chain's receipts.
  `CREATE TABLE delivery (
     target TEXT PRIMARY KEY,
     through INTEGER NOT NULL
   );`,
  // 5: whether a receipt is activity the analysis plane reads (an allowed redeem); NULL for
  // receipts written before: unknown, so still delivered.
  "ALTER TABLE receipts ADD COLUMN activity INTEGER;",
  // 6: the outbox's retry state per target: failed attempts since its last acknowledgement,
  // and when (ms) it is tried next; 0/0 for a target that is not failing.
  `ALTER TABLE delivery ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE delivery ADD COLUMN next_at INTEGER NOT NULL DEFAULT 0;`,
];
