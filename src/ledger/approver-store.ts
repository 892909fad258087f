import type { SignedLogEntry } from "../tokens/credential-log.js";

/** The directory's storage, numbered and append-only: never edit a shipped entry (see storage/migrate.ts). */
export const DIRECTORY_MIGRATIONS = [
  `CREATE TABLE enrolments (token_sha256 TEXT PRIMARY KEY, approver TEXT NOT NULL, issued_by TEXT NOT NULL,
     created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, challenge TEXT, consumed_at INTEGER);
   CREATE INDEX enrolments_expiry ON enrolments (expires_at);
   CREATE TABLE credentials (credential_id TEXT PRIMARY KEY, approver TEXT NOT NULL, public_key TEXT NOT NULL,
     aaguid TEXT NOT NULL, counter INTEGER NOT NULL, transports TEXT NOT NULL, rp_id TEXT NOT NULL,
     created_at INTEGER NOT NULL, revoked_at INTEGER, revoked_reason TEXT);
   CREATE INDEX credentials_approver ON credentials (approver);
   CREATE TABLE log (n INTEGER PRIMARY KEY, hash TEXT NOT NULL, jws TEXT NOT NULL);`,
];

/** Consumed or expired enrolments are kept this long (ms) to answer a late second use precisely, then dropped. */
const ENROLMENT_KEEP_MS = 24 * 60 * 60 * 1000;

export interface EnrolmentRow extends Record<string, SqlStorageValue> {
  token_sha256: string;
  approver: string;
  issued_by: string;
  created_at: number;
  expires_at: number;
  challenge: string | null;
  consumed_at: number | null;
}

export interface CredentialRow extends Record<string, SqlStorageValue> {
  credential_id: string;
  approver: string;
  public_key: string;
  aaguid: string;
  counter: number;
  transports: string;
  rp_id: string;
  created_at: number;
  revoked_at: number | null;
  revoked_reason: string | null;
}

/** All of the directory's SQL. Times are milliseconds since the epoch, as receipts' `at`. */
export class DirectoryStore {
  constructor(private readonly sql: SqlStorage) {}

  addEnrolment(row: { token_sha256: string; approver: string; issued_by: string; created_at: number; expires_at: number }): void {
    this.sql.exec("DELETE FROM enrolments WHERE expires_at < ?", row.created_at - ENROLMENT_KEEP_MS);
    this.sql.exec(
      "INSERT INTO enrolments (token_sha256, approver, issued_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
      row.token_sha256,
      row.approver,
      row.issued_by,
      row.created_at,
      row.expires_at,
    );
  }

  enrolment(tokenSha256: string): EnrolmentRow | null {
    return this.sql.exec<EnrolmentRow>("SELECT * FROM enrolments WHERE token_sha256 = ?", tokenSha256).toArray()[0] ?? null;
  }

  setChallenge(tokenSha256: string, challenge: string): void {
    this.sql.exec("UPDATE enrolments SET challenge = ? WHERE token_sha256 = ? AND consumed_at IS NULL", challenge, tokenSha256);
  }

  /** Consumes the enrolment; false when it was already consumed (the UPDATE matched nothing). */
  consume(tokenSha256: string, now: number): boolean {
    const cursor = this.sql.exec("UPDATE enrolments SET consumed_at = ? WHERE token_sha256 = ? AND consumed_at IS NULL", now, tokenSha256);
    return cursor.rowsWritten === 1;
  }

  credential(credentialId: string): CredentialRow | null {
    return this.sql.exec<CredentialRow>("SELECT * FROM credentials WHERE credential_id = ?", credentialId).toArray()[0] ?? null;
  }

  credentialsOf(approver: string): CredentialRow[] {
    return this.sql.exec<CredentialRow>("SELECT * FROM credentials WHERE approver = ? ORDER BY created_at", approver).toArray();
  }

  credentials(): CredentialRow[] {
    return this.sql.exec<CredentialRow>("SELECT * FROM credentials ORDER BY created_at, credential_id").toArray();
  }

  addCredential(row: CredentialRow): void {
    this.sql.exec(
      `INSERT INTO credentials (credential_id, approver, public_key, aaguid, counter, transports, rp_id, created_at, revoked_at, revoked_reason)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)`,
      row.credential_id,
      row.approver,
      row.public_key,
      row.aaguid,
      row.counter,
      row.transports,
      row.rp_id,
      row.created_at,
    );
  }

  revoke(credentialId: string, at: number, reason: string): void {
    this.sql.exec("UPDATE credentials SET revoked_at = ?, revoked_reason = ? WHERE credential_id = ?", at, reason, credentialId);
  }

  /** Raises the stored counter, never lowers it: two approvals verified concurrently may report in either order. */
  raiseCounter(credentialId: string, counter: number): void {
    this.sql.exec("UPDATE credentials SET counter = ? WHERE credential_id = ? AND counter < ?", counter, credentialId, counter);
  }

  logHead(): { n: number; hash: string } | null {
    return this.sql.exec<{ n: number; hash: string }>("SELECT n, hash FROM log ORDER BY n DESC LIMIT 1").toArray()[0] ?? null;
  }

  appendLog(entry: SignedLogEntry): void {
    this.sql.exec("INSERT INTO log (n, hash, jws) VALUES (?, ?, ?)", entry.n, entry.hash, entry.jws);
  }

  log(): string[] {
    return this.sql.exec<{ jws: string }>("SELECT jws FROM log ORDER BY n").toArray().map((r) => r.jws);
  }
}
