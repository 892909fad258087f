import { DurableObject } from "cloudflare:workers";
import { z } from "zod";
import type { ConsoleRole } from "../../ledger/console-principals.js";
import { migrate } from "../../storage/migrate.js";

/**
 * The console's sign-in challenges and sessions: one instance, by name. Its own object, not
 * the ApproverDirectory: sessions are per browser and short-lived, the directory is the signed
 * record of people's keys, and a session is nothing an auditor needs. Not KV: a challenge must
 * be consumed exactly once and a revoked session must stop at once, and KV is eventually
 * consistent. Only SHA-256s of the session tokens are stored, so a copy of the storage
 * signs no one in.
 */
export const SESSION_STORE_NAME = "console-sessions";
/** A sign-in challenge is answered within this long (ms). */
export const CHALLENGE_TTL_MS = 2 * 60 * 1000;
/** A session lasts this long (ms) from sign-in, then the person signs in again. */
export const SESSION_TTL_MS = 30 * 60 * 1000;
/** Unanswered challenges at once: the sign-in endpoint is unauthenticated, its storage is bounded. */
const CHALLENGES_MAX = 10_000;

const MIGRATIONS = [
  `CREATE TABLE challenges (challenge TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
   CREATE INDEX challenges_expiry ON challenges (expires_at);
   CREATE TABLE sessions (token_sha256 TEXT PRIMARY KEY, principal TEXT NOT NULL, role TEXT NOT NULL,
     credential_id TEXT NOT NULL, csrf TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL);
   CREATE INDEX sessions_expiry ON sessions (expires_at);`,
];

const Sha256 = z.string().regex(/^[A-Za-z0-9_-]{43}$/);
const NewSessionSchema = z.object({
  tokenSha256: Sha256,
  principal: z.string().min(1).max(64),
  role: z.enum(["approver", "operator", "orchestrator", "auditor"]),
  credentialId: z.string().min(1).max(1400),
  csrf: Sha256,
});

export interface ConsoleSession {
  principal: string;
  role: ConsoleRole;
  credential_id: string;
  csrf: string;
  expires_at: number;
}

export interface SessionStoreProtocol {
  issueChallenge(challenge: string): Promise<boolean>;
  consumeChallenge(challenge: string): Promise<boolean>;
  createSession(input: z.input<typeof NewSessionSchema>): Promise<{ expires_at: number }>;
  session(tokenSha256: string): Promise<ConsoleSession | null>;
  endSession(tokenSha256: string): Promise<void>;
}

export class ConsoleSessions extends DurableObject<Env> implements SessionStoreProtocol {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    migrate(ctx.storage, MIGRATIONS);
  }

  async issueChallenge(challenge: string): Promise<boolean> {
    if (!Sha256.safeParse(challenge).success) return false;
    const sql = this.ctx.storage.sql;
    const now = Date.now();
    sql.exec("DELETE FROM challenges WHERE expires_at <= ?", now);
    sql.exec("DELETE FROM sessions WHERE expires_at <= ?", now);
    const live = sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM challenges").one().n;
    if (live >= CHALLENGES_MAX) return false;
    sql.exec("INSERT INTO challenges (challenge, expires_at) VALUES (?, ?)", challenge, now + CHALLENGE_TTL_MS);
    return true;
  }

  /** True once for a challenge this object issued and that has not expired; it is gone afterwards, answered or not. */
  async consumeChallenge(challenge: string): Promise<boolean> {
    if (!Sha256.safeParse(challenge).success) return false;
    const rows = this.ctx.storage.sql.exec<{ expires_at: number }>("DELETE FROM challenges WHERE challenge = ? RETURNING expires_at", challenge).toArray();
    return rows.length === 1 && (rows[0]?.expires_at ?? 0) > Date.now();
  }

  async createSession(raw: z.input<typeof NewSessionSchema>): Promise<{ expires_at: number }> {
    const input = NewSessionSchema.parse(raw);
    const now = Date.now();
    const expiresAt = now + SESSION_TTL_MS;
    this.ctx.storage.sql.exec(
      "INSERT INTO sessions (token_sha256, principal, role, credential_id, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
      input.tokenSha256,
      input.principal,
      input.role,
      input.credentialId,
      input.csrf,
      now,
      expiresAt,
    );
    return { expires_at: expiresAt };
  }

  async session(tokenSha256: string): Promise<ConsoleSession | null> {
    if (!Sha256.safeParse(tokenSha256).success) return null;
    const row = this.ctx.storage.sql
      .exec<{ principal: string; role: string; credential_id: string; csrf: string; expires_at: number }>(
        "SELECT principal, role, credential_id, csrf, expires_at FROM sessions WHERE token_sha256 = ?",
        tokenSha256,
      )
      .toArray()[0];
    if (!row || row.expires_at <= Date.now()) return null;
    return { principal: row.principal, role: row.role as ConsoleRole, credential_id: row.credential_id, csrf: row.csrf, expires_at: row.expires_at };
  }

  async endSession(tokenSha256: string): Promise<void> {
    if (Sha256.safeParse(tokenSha256).success) this.ctx.storage.sql.exec("DELETE FROM sessions WHERE token_sha256 = ?", tokenSha256);
  }
}

export function sessionStore(namespace: Env["CONSOLE_SESSIONS"]): SessionStoreProtocol {
  return namespace.get(namespace.idFromName(SESSION_STORE_NAME)) as unknown as SessionStoreProtocol;
}
