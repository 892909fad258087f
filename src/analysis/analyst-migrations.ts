import { ACTIVITY_INDEX_SCHEMA } from "./activity-index.js";
import { SIGNAL_NOTIFY_SCHEMA } from "./signal-notify.js";

/** The analyst's storage, numbered and append-only: never edit a shipped entry (see storage/migrate.ts). */
export const ANALYST_MIGRATIONS = [
  `CREATE TABLE events (seq TEXT NOT NULL, n INTEGER NOT NULL, receipt TEXT NOT NULL, at INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (seq, n));
   CREATE INDEX events_at ON events (at);
   CREATE TABLE cursors (seq TEXT PRIMARY KEY, through INTEGER NOT NULL);
   CREATE TABLE signals (id TEXT PRIMARY KEY, key TEXT NOT NULL UNIQUE, detector TEXT NOT NULL, version INTEGER NOT NULL,
     severity TEXT NOT NULL, expires_at INTEGER NOT NULL, status TEXT NOT NULL, jws TEXT NOT NULL);
   CREATE TABLE log (n INTEGER PRIMARY KEY, hash TEXT NOT NULL, jws TEXT NOT NULL);`,
  // 2: the novelty look-back reads the last sequences' events.
  "CREATE INDEX events_seq ON events (seq);",
  // 3: the incremental index replaces the event list the detectors re-read on every delivery;
  // the recorded actions and the findings' keys carry over. Findings still to be signed wait
  // in pending_findings (an outbox), so none is lost between judging and signing.
  `${ACTIVITY_INDEX_SCHEMA}
   INSERT OR IGNORE INTO activity (at, seq, n, receipt, tool, action, effect, labels)
     SELECT at, seq, n, receipt, json_extract(body, '$.tool'), json_extract(body, '$.action'), json_extract(body, '$.effect'), json_extract(body, '$.labels')
     FROM events WHERE body != 'null';
   INSERT OR IGNORE INTO activity_labels (label, at, seq, n, write, receipt, action)
     SELECT l.value, a.at, a.seq, a.n, a.effect IS 'write', a.receipt, a.action FROM activity a, json_each(a.labels) l;
   INSERT OR IGNORE INTO watched_sequences (seq, first_at, first_n)
     SELECT seq, at, n FROM activity a WHERE NOT EXISTS (SELECT 1 FROM activity b WHERE b.seq = a.seq AND (b.at, b.n) < (a.at, a.n));
   INSERT OR IGNORE INTO findings (key, at, lasting) SELECT key, 0, 1 FROM signals;
   CREATE TABLE pending_findings (key TEXT PRIMARY KEY, body TEXT NOT NULL);
   CREATE TABLE party (id INTEGER PRIMARY KEY CHECK (id = 1), scope TEXT NOT NULL);
   CREATE INDEX signals_in_force ON signals (expires_at);
   DROP TABLE events;`,
  // 4: the outbox of "signal" webhooks (signal-notify.ts); AUTOINCREMENT, so a position is never reused after the delivered rows are deleted.
  SIGNAL_NOTIFY_SCHEMA,
];
