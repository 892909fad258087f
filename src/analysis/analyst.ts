import { DurableObject } from "cloudflare:workers";
import { z } from "zod";
import { type BatonConfig, loadConfig } from "../config/load.js";
import { BatonError } from "../errors.js";
import type { ConsultedSignal } from "../policy/types.js";
import type { Keyring } from "../tokens/keys.js";
import { loadKeyring } from "../config/keyring.js";
import { TYP } from "../tokens/kinds.js";
import { receiptHash, unverifiedReceiptClaims } from "../tokens/receipt.js";
import { migrate } from "../storage/migrate.js";
import type { Detector } from "../config/detector-schema.js";
import { ActivityIndex } from "./activity-index.js";
import { ANALYST_MIGRATIONS } from "./analyst-migrations.js";
import { takeDelivery } from "./intake.js";
import { deliverSignalEvents, queueSignalEvents, signalEventsDue } from "./signal-notify.js";
import { type LogEntry, appendLog, logHead, readLog, signLogEntry } from "./signal-log.js";
import {
  EXPIRY_BATCH,
  type NewSignal,
  type StoredSignal,
  deleteExpiredSignals,
  insertSignals,
  setSignalStatus,
  signalsInForce,
  storedSignals,
} from "./signal-table.js";

/** How often an analyst prunes what its detectors no longer need, and expired signals. */
const PRUNE_EVERY_MS = 60_000;

const Scope = z.string().regex(/^(actor|subject):.{1,256}$/);
/**
 * One delivery of a sequence's receipts. With `after` and `through`, the ledger sends only the
 * receipts the analysis plane reads (allowed redeems) of the range (after, through]; without
 * them, every receipt of the range, contiguous.
 */
export const IngestInputSchema = z.object({
  scope: Scope,
  seq: z.string().min(1),
  after: z.int().min(-1).optional(),
  through: z.int().min(0).optional(),
  receipts: z.array(z.string().min(1)).max(500),
});
export const SignalsQuerySchema = z.object({
  scope: Scope,
  detectors: z.array(z.string()).optional(),
  /** Only signals in force (active or acknowledged), not the cleared ones still in the hot table. */
  inForce: z.boolean().optional(),
});
export const SignalActionSchema = z.object({
  scope: Scope,
  id: z.string().min(1).max(128),
  action: z.enum(["acknowledge", "clear"]),
  operator: z.string().min(1),
  note: z.string().max(500).optional(),
});

/**
 * The analysis plane for one actor or one subject (`actor:<id>` / `subject:<id>`):
 * receives every committed receipt of their sequences, in order per sequence and
 * at least once (deliveries are idempotent by (seq, n)), runs the configured
 * detectors on the allowed actions through an incremental index (activity-index.ts),
 * and keeps the signals it emitted with a signed, hash-chained log of everything
 * that happened to them. It reads only receipts; it has no access to any ledger's
 * state, and it never changes one.
 */
export class ActivityAnalyst extends DurableObject<Env> {
  readonly #sql: SqlStorage;
  readonly #index: ActivityIndex;
  #pruneScheduled = false;
  /**
   * False once this instance knows `pending_findings` is empty (it is the only writer), so a
   * delivery that found nothing asks no more of storage; true at first, for what a crash left.
   */
  #mayHavePending = true;
  /** Whether a transaction of this instance that recorded its party has committed (a statement per delivery otherwise). */
  #remembered = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    this.#index = new ActivityIndex(this.#sql);
    migrate(ctx.storage, ANALYST_MIGRATIONS);
  }

  /** Takes the next receipts of one sequence; answers how far that sequence is now delivered. */
  async ingest(raw: z.input<typeof IngestInputSchema>): Promise<{ through: number }> {
    const input = IngestInputSchema.parse(raw);
    const [config, keyring] = await Promise.all([loadConfig(this.env), loadKeyring(this.env)]);
    const detectors = watching(config, input.scope);
    // Hashing is async: done first, on the receipts alone.
    const delivered = await Promise.all(
      input.receipts.map(async (jws) => ({ claims: unverifiedReceiptClaims(jws), hash: await receiptHash(jws) })),
    );
    // From here to the commit nothing awaits, so no other delivery interleaves.
    const { through, findings } = this.ctx.storage.transactionSync(() => {
      this.#remember(input.scope);
      return takeDelivery(this.#sql, this.#index, detectors, input.seq, delivered, { after: input.after, through: input.through });
    });
    this.#remembered = true;
    if (findings.length > 0) this.#mayHavePending = true;
    await this.#emitPending(config, keyring, input.scope);
    if (signalEventsDue(this.#sql, config, Date.now())) await this.ctx.storage.setAlarm(Date.now());
    else if (!this.#pruneScheduled) {
      this.#pruneScheduled = true;
      if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now() + PRUNE_EVERY_MS);
    }
    return { through };
  }

  /** Sends queued signal webhooks; prunes what the detectors no longer need and expired signals, in batches; signs any finding a crash left pending. */
  override async alarm(): Promise<void> {
    const [config, keyring] = await Promise.all([loadConfig(this.env), loadKeyring(this.env)]);
    const scope = this.#scope();
    if (scope === null) return; // never delivered to: nothing to prune
    await this.#emitPending(config, keyring, scope);
    const fetcher = (url: string, init: RequestInit) => fetch(url, init);
    const retryAt = await deliverSignalEvents(this.#sql, { config, keyring, scope, fetcher, now: Date.now() });
    const more = this.ctx.storage.transactionSync(() => {
      const expired = deleteExpiredSignals(this.#sql, Math.floor(Date.now() / 1000));
      return this.#index.prune(watching(config, scope)) || expired >= EXPIRY_BATCH;
    });
    this.#pruneScheduled = more;
    if (more) await this.ctx.storage.setAlarm(Date.now());
    else if (retryAt !== null) await this.ctx.storage.setAlarm(retryAt);
  }

  /** Signals still in force (not cleared, not expired), of the given detectors only. */
  async active(raw: z.input<typeof SignalsQuerySchema>): Promise<ConsultedSignal[]> {
    const input = SignalsQuerySchema.parse(raw);
    return signalsInForce(this.#sql, Math.floor(Date.now() / 1000), input.detectors);
  }

  /** The signals in the hot table: every one not yet expired (an expired one stays in the signed log). */
  async list(raw: z.input<typeof SignalsQuerySchema>): Promise<StoredSignal[]> {
    const input = SignalsQuerySchema.parse(raw);
    return storedSignals(this.#sql, { inForce: input.inForce === true });
  }

  /** An operator acknowledges (still in force) or clears (no longer in force) a signal; both are logged and signed. */
  async act(raw: z.input<typeof SignalActionSchema>): Promise<{ status: number; body: string }> {
    const input = SignalActionSchema.parse(raw);
    const [config, keyring] = await Promise.all([loadConfig(this.env), loadKeyring(this.env)]);
    return this.#serially(async () => {
      this.#remember(input.scope);
      const found = storedSignals(this.#sql, { id: input.id })[0];
      if (!found) return answer(new BatonError("UNKNOWN_SEQUENCE", "no such signal").toJSON(), 404);
      if (found.status === "cleared") return answer(new BatonError("SEALED_SEQUENCE", "the signal is already cleared").toJSON(), 409);
      const status = input.action === "clear" ? "cleared" : "acknowledged";
      const entry = await signLogEntry(keyring, { issuer: config.issuer, scope: this.#scope() }, logHead(this.#sql), {
        event: status,
        signal: input.id,
        detector: found.detector,
        operator: input.operator,
        ...(input.note ? { note: input.note } : {}),
      });
      this.ctx.storage.transactionSync(() => {
        setSignalStatus(this.#sql, input.id, status);
        appendLog(this.#sql, [entry]);
      });
      return answer({ signal: input.id, status, receipt: entry.jws }, 200);
    });
  }

  /**
   * The signed log of this party's signal events (emitted, acknowledged, cleared), oldest
   * first: the entries after `after`, or the latest ones; at most `limit`, so a read costs
   * the same however long the log grows (page through it with `after`).
   */
  async log(page: { after?: number; limit?: number } = {}): Promise<string[]> {
    return readLog(this.#sql, page);
  }

  /** Rows this analyst keeps (benchmarks read it): the index's tables and the hot signals. */
  async stored(): Promise<ReturnType<ActivityIndex["size"]> & { signals: number; pending: number }> {
    const count = (table: string) => this.#sql.exec<{ c: number }>(`SELECT COUNT(*) AS c FROM ${table}`).one().c;
    return { ...this.#index.size(), signals: count("signals"), pending: count("pending_findings") };
  }

  /**
   * Signs the findings waiting in the outbox as signals, each with its "emitted"
   * log entry (which carries the signal, so the log keeps it after it expires
   * from the hot table), and commits them with the outbox emptied. Serial, so
   * each log entry links to the one before.
   */
  async #emitPending(config: BatonConfig, keyring: Keyring, scope: string): Promise<void> {
    if (!this.#mayHavePending) return;
    if (this.#sql.exec("SELECT 1 FROM pending_findings LIMIT 1").toArray().length === 0) {
      this.#mayHavePending = false;
      return;
    }
    const scopeKind = kindOf(scope);
    const party = scope.slice(scopeKind.length + 1);
    await this.#serially(async () => {
      const pending = this.#sql.exec<{ key: string; body: string }>("SELECT key, body FROM pending_findings ORDER BY rowid").toArray();
      const signals: NewSignal[] = [];
      const logged: LogEntry[] = [];
      let head = logHead(this.#sql);
      for (const { key, body } of pending) {
        const finding = JSON.parse(body) as { detector: string; receipts: string[]; summary: string };
        const detector = config.detectors.find((d) => d.id === finding.detector);
        if (!detector) continue; // no longer configured: dropped from the outbox below
        const id = crypto.randomUUID();
        const iat = Math.floor(Date.now() / 1000);
        const expires = iat + detector.signal_ttl_seconds;
        const jws = await keyring.sign(
          {
            iss: config.issuer,
            jti: id,
            detector: detector.id,
            version: detector.version,
            kind: detector.kind,
            [scopeKind]: party,
            receipts: finding.receipts,
            severity: detector.severity,
            summary: finding.summary,
            iat,
            exp: expires,
          },
          TYP.signal,
        );
        signals.push({ id, key, detector, expires, jws });
        const entry = await signLogEntry(keyring, { issuer: config.issuer, scope: this.#scope() }, head, { event: "emitted", signal: id, detector: detector.id, token: jws });
        logged.push(entry);
        head = entry;
      }
      this.ctx.storage.transactionSync(() => {
        insertSignals(this.#sql, signals);
        queueSignalEvents(this.#sql, config, signals);
        appendLog(this.#sql, logged);
        for (const { key } of pending) this.#sql.exec("DELETE FROM pending_findings WHERE key = ?", key);
      });
      // Inside the exclusive section: a delivery that queues a finding after it sets this again.
      this.#mayHavePending = false;
    });
  }

  /** Runs `work` with no other event of this object interleaved (signing awaits, and the log is a chain). */
  async #serially<T>(work: () => Promise<T>): Promise<T> {
    let result = { failure: new Error("not run") } as { value: T } | { failure: unknown };
    await this.ctx.blockConcurrencyWhile(async () => {
      try {
        result = { value: await work() };
      } catch (failure) {
        result = { failure };
      }
    });
    if ("failure" in result) throw result.failure;
    return result.value;
  }

  /** The party this object watches, as first named by a caller (alarms carry no name); written once per instance. */
  #remember(scope: string): void {
    if (this.#remembered) return;
    this.#sql.exec("INSERT OR IGNORE INTO party (id, scope) VALUES (1, ?)", scope);
  }

  #scope(): string | null {
    return this.#sql.exec<{ scope: string }>("SELECT scope FROM party WHERE id = 1").toArray()[0]?.scope ?? null;
  }
}

/** Whose activity a scope watches: `actor:<id>` or `subject:<id>`. */
function kindOf(scope: string): "actor" | "subject" {
  return scope.startsWith("subject:") ? "subject" : "actor";
}

/** The configured detectors that watch this scope's kind of party. */
function watching(config: BatonConfig, scope: string): Detector[] {
  return config.detectors.filter((d) => d.by === kindOf(scope));
}

function answer(body: unknown, status: number) {
  return { status, body: JSON.stringify(body) };
}
