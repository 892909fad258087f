import { DurableObject } from "cloudflare:workers";
import { z } from "zod";
import { loadConfig } from "../config/load.js";
import { BatonError } from "../errors.js";
import type { ConsultedSignal } from "../policy/types.js";
import { base64url } from "jose";
import type { Keyring } from "../tokens/keys.js";
import { loadKeyring } from "../tokens/keyring-source.js";
import { TYP } from "../tokens/kinds.js";
import { type ReceiptClaims, receiptHash } from "../tokens/receipt.js";
import { type ActivityEvent, type Detector, detect } from "./detectors.js";

const MIGRATIONS = [
  `CREATE TABLE events (seq TEXT NOT NULL, n INTEGER NOT NULL, receipt TEXT NOT NULL, at INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (seq, n));
   CREATE INDEX events_at ON events (at);
   CREATE TABLE cursors (seq TEXT PRIMARY KEY, through INTEGER NOT NULL);
   CREATE TABLE signals (id TEXT PRIMARY KEY, key TEXT NOT NULL UNIQUE, detector TEXT NOT NULL, version INTEGER NOT NULL,
     severity TEXT NOT NULL, expires_at INTEGER NOT NULL, status TEXT NOT NULL, jws TEXT NOT NULL);
   CREATE TABLE log (n INTEGER PRIMARY KEY, hash TEXT NOT NULL, jws TEXT NOT NULL);`,
  // 2: the novelty look-back reads the last sequences' events.
  "CREATE INDEX events_seq ON events (seq);",
];

const Scope = z.string().regex(/^(actor|subject):.{1,256}$/);
export const IngestInputSchema = z.object({ scope: Scope, seq: z.string().min(1), receipts: z.array(z.string().min(1)).max(500) });
export const SignalsQuerySchema = z.object({ scope: Scope, detectors: z.array(z.string()).optional() });
export const SignalActionSchema = z.object({
  scope: Scope,
  id: z.string().min(1).max(128),
  action: z.enum(["acknowledge", "clear"]),
  operator: z.string().min(1),
  note: z.string().max(500).optional(),
});

export interface StoredSignal {
  id: string;
  detector: string;
  version: number;
  severity: string;
  expires_at: number;
  status: "active" | "acknowledged" | "cleared";
  signal: string;
}

/**
 * The analysis plane for one actor or one subject (`actor:<id>` / `subject:<id>`):
 * receives every committed receipt of their sequences, in order per sequence and
 * at least once (deliveries are idempotent by (seq, n)), runs the configured
 * detectors on the allowed actions, and keeps the signals it emitted with a
 * signed, hash-chained log of everything that happened to them. It reads only
 * receipts; it has no access to any ledger's state, and it never changes one.
 */
export class ActivityAnalyst extends DurableObject<Env> {
  readonly #sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    ctx.storage.transactionSync(() => {
      this.#sql.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)");
      const row = this.#sql.exec<{ v: number | null }>("SELECT MAX(version) AS v FROM schema_migrations").one();
      for (let version = (row.v ?? 0) + 1; version <= MIGRATIONS.length; version++) {
        this.#sql.exec(MIGRATIONS[version - 1] as string);
        this.#sql.exec("INSERT INTO schema_migrations (version) VALUES (?)", version);
      }
    });
  }

  /** Takes the next receipts of one sequence; answers how far that sequence is now delivered. */
  async ingest(raw: z.input<typeof IngestInputSchema>): Promise<{ through: number }> {
    const input = IngestInputSchema.parse(raw);
    const [config, keyring] = await Promise.all([loadConfig(this.env), loadKeyring(this.env)]);
    const scopeKind = input.scope.startsWith("actor:") ? "actor" : "subject";
    const detectors = config.detectors.filter((d) => d.by === scopeKind);
    // Work outside the transaction (hashing and signing are async), then commit in one.
    const cursor = this.#sql.exec<{ through: number }>("SELECT through FROM cursors WHERE seq = ?", input.seq).toArray()[0]?.through ?? -1;
    let through = cursor;
    const accepted: { claims: ReceiptClaims; hash: string; event: ActivityEvent | null }[] = [];
    for (const jws of input.receipts) {
      const claims = JSON.parse(new TextDecoder().decode(base64url.decode(jws.split(".")[1] ?? ""))) as ReceiptClaims;
      if (claims.seq !== input.seq || claims.n <= through) continue; // already delivered
      if (claims.n !== through + 1) break; // a gap: wait for the missing receipt
      through = claims.n;
      accepted.push({ claims, hash: await receiptHash(jws), event: activityOf(claims, "") });
    }
    const signals: { id: string; key: string; detector: Detector; expires: number; jws: string }[] = [];
    const fresh = accepted.flatMap((item) => (item.event ? [{ ...item.event, receipt: item.hash }] : []));
    if (fresh.length > 0 && detectors.length > 0) {
      // Deliveries of different sequences arrive in any order, so detectors run over
      // the timeline: every event from the earliest new one on, each against what
      // happened before it. Findings are keyed, so a re-run never duplicates a signal.
      const timeline = [...this.#history(detectors), ...fresh].sort((a, b) => a.at - b.at || a.seq.localeCompare(b.seq) || a.n - b.n);
      const earliest = Math.min(...fresh.map((e) => e.at));
      for (const [index, event] of timeline.entries()) {
        if (event.at < earliest) continue;
        for (const finding of detect(detectors, timeline.slice(0, index), event)) {
          if (signals.some((s) => s.key === finding.key) || this.#sql.exec("SELECT 1 FROM signals WHERE key = ?", finding.key).toArray().length > 0) continue;
          const id = crypto.randomUUID();
          const iat = Math.floor(Date.now() / 1000);
          const expires = iat + finding.detector.signal_ttl_seconds;
          const jws = await keyring.sign(
            {
              iss: config.issuer,
              jti: id,
              detector: finding.detector.id,
              version: finding.detector.version,
              kind: finding.detector.kind,
              [scopeKind]: input.scope.slice(scopeKind.length + 1),
              receipts: finding.receipts,
              severity: finding.detector.severity,
              summary: finding.summary,
              iat,
              exp: expires,
            },
            TYP.signal,
          );
          signals.push({ id, key: finding.key, detector: finding.detector, expires, jws });
        }
      }
    }
    // One at a time: each log entry links to the one before.
    const logged: { n: number; hash: string; jws: string }[] = [];
    for (const s of signals) logged.push(await this.#logEntry(keyring, config.issuer, { event: "emitted", signal: s.id, detector: s.detector.id }));
    this.ctx.storage.transactionSync(() => {
      for (const { claims, hash, event } of accepted) {
        this.#sql.exec("INSERT OR IGNORE INTO events (seq, n, receipt, at, body) VALUES (?, ?, ?, ?, ?)", claims.seq, claims.n, hash, claims.at, JSON.stringify(event ? { ...event, receipt: hash } : null));
      }
      for (const s of signals) {
        this.#sql.exec(
          "INSERT INTO signals (id, key, detector, version, severity, expires_at, status, jws) VALUES (?, ?, ?, ?, ?, ?, 'active', ?)",
          s.id, s.key, s.detector.id, s.detector.version, s.detector.severity, s.expires, s.jws,
        );
      }
      this.#appendLog(logged);
      this.#sql.exec("INSERT INTO cursors (seq, through) VALUES (?, ?) ON CONFLICT (seq) DO UPDATE SET through = excluded.through", input.seq, through);
    });
    return { through };
  }

  /** Signals still in force (not cleared, not expired), of the given detectors only. */
  async active(raw: z.input<typeof SignalsQuerySchema>): Promise<ConsultedSignal[]> {
    const input = SignalsQuerySchema.parse(raw);
    const now = Math.floor(Date.now() / 1000);
    return this.#signals()
      .filter((s) => s.status !== "cleared" && s.expires_at > now && (!input.detectors || input.detectors.includes(s.detector)))
      .map(({ id, detector, version, severity, expires_at }) => ({ id, detector, version, severity, expires_at }));
  }

  async list(raw: z.input<typeof SignalsQuerySchema>): Promise<StoredSignal[]> {
    SignalsQuerySchema.parse(raw);
    return this.#signals();
  }

  /** An operator acknowledges (still in force) or clears (no longer in force) a signal; both are logged and signed. */
  async act(raw: z.input<typeof SignalActionSchema>): Promise<{ status: number; body: string }> {
    const input = SignalActionSchema.parse(raw);
    const [config, keyring] = await Promise.all([loadConfig(this.env), loadKeyring(this.env)]);
    const found = this.#signals().find((s) => s.id === input.id);
    if (!found) return answer(new BatonError("UNKNOWN_SEQUENCE", "no such signal").toBody(), 404);
    if (found.status === "cleared") return answer(new BatonError("SEALED_SEQUENCE", "the signal is already cleared").toBody(), 409);
    const status = input.action === "clear" ? "cleared" : "acknowledged";
    const entry = await this.#logEntry(keyring, config.issuer, { event: status, signal: input.id, detector: found.detector, operator: input.operator, ...(input.note ? { note: input.note } : {}) });
    this.ctx.storage.transactionSync(() => {
      this.#sql.exec("UPDATE signals SET status = ? WHERE id = ?", status, input.id);
      this.#appendLog([entry]);
    });
    return answer({ signal: input.id, status, receipt: entry.jws }, 200);
  }

  /** The signed log of this party's signal events (emitted, acknowledged, cleared), oldest first. */
  async log(): Promise<string[]> {
    return this.#sql.exec<{ jws: string }>("SELECT jws FROM log ORDER BY n").toArray().map((r) => r.jws);
  }

  #signals(): StoredSignal[] {
    return this.#sql
      .exec<{ id: string; detector: string; version: number; severity: string; expires_at: number; status: StoredSignal["status"]; jws: string }>(
        "SELECT id, detector, version, severity, expires_at, status, jws FROM signals ORDER BY rowid",
      )
      .toArray()
      .map((r) => ({ id: r.id, detector: r.detector, version: r.version, severity: r.severity, expires_at: r.expires_at, status: r.status, signal: r.jws }));
  }

  /**
   * What the detectors need to look back at, and no more: the allowed actions
   * within the longest time window, plus those of the last sequences a novelty
   * detector compares with. Bounded, so an analyst's cost does not grow with its age.
   */
  #history(detectors: readonly Detector[]): ActivityEvent[] {
    const windows = detectors.flatMap((d) => (d.kind === "novelty" ? [] : [d.window_seconds * 1000]));
    const lookback = detectors.reduce((m, d) => (d.kind === "novelty" ? Math.max(m, d.sequences + 1) : m), 0);
    const rows = new Map<string, string>();
    if (windows.length > 0) {
      for (const r of this.#sql.exec<{ seq: string; n: number; body: string }>("SELECT seq, n, body FROM events WHERE at >= ?", Date.now() - Math.max(...windows))) {
        rows.set(`${r.seq}/${r.n}`, r.body);
      }
    }
    if (lookback > 0) {
      const recent = "SELECT seq FROM events GROUP BY seq ORDER BY MIN(at) DESC LIMIT ?";
      for (const r of this.#sql.exec<{ seq: string; n: number; body: string }>(`SELECT seq, n, body FROM events WHERE seq IN (${recent})`, lookback)) {
        rows.set(`${r.seq}/${r.n}`, r.body);
      }
    }
    return [...rows.values()]
      .map((body) => JSON.parse(body) as ActivityEvent | null)
      .filter((e): e is ActivityEvent => e !== null)
      .sort((a, b) => a.at - b.at || a.seq.localeCompare(b.seq) || a.n - b.n);
  }

  #pendingLog: { n: number; hash: string; jws: string }[] = [];

  async #logEntry(keyring: Keyring, issuer: string, event: Record<string, unknown>) {
    const head = this.#pendingLog.at(-1) ?? this.#sql.exec<{ n: number; hash: string }>("SELECT n, hash FROM log ORDER BY n DESC LIMIT 1").toArray()[0];
    const n = head ? head.n + 1 : 0;
    const jws = await keyring.sign({ iss: issuer, scope: this.ctx.id.name ?? null, n, prev: head?.hash ?? null, at: Date.now(), kind: "signal", ...event }, TYP.receipt);
    const entry = { n, hash: await receiptHash(jws), jws };
    this.#pendingLog.push(entry);
    return entry;
  }

  #appendLog(entries: { n: number; hash: string; jws: string }[]): void {
    for (const e of entries) this.#sql.exec("INSERT INTO log (n, hash, jws) VALUES (?, ?, ?)", e.n, e.hash, e.jws);
    this.#pendingLog = [];
  }
}

/** An allowed redeem as an activity event; anything else is not activity. */
function activityOf(claims: ReceiptClaims, hash: string): ActivityEvent | null {
  if (claims.kind !== "redeem" || claims.decision !== "ALLOW" || claims.inputs.kind !== "redeem") return null;
  const details = (claims.details ?? {}) as { labels?: string[]; effect?: "read" | "write" };
  return {
    seq: claims.seq,
    n: claims.n,
    receipt: hash,
    at: claims.at,
    tool: claims.inputs.tool,
    action: claims.inputs.action,
    labels: details.labels ?? [],
    effect: details.effect ?? null,
  };
}

function answer(body: unknown, status: number) {
  return { status, body: JSON.stringify(body) };
}
