import type { BatonConfig } from "../config/load.js";
import type { Webhook } from "../config/schema.js";
import { type Fetcher, postEvent, retryDelayMs } from "../outbound.js";
import { signEvent } from "../tokens/event.js";
import type { Keyring } from "../tokens/keys.js";

/** Signal events sent per webhook and call. */
const NOTIFY_BATCH = 50;

/**
 * The analyst's own outbox for "signal" webhooks, with the ledger outbox's rules:
 * an emitted signal is queued in the same transaction that stores it (so none is
 * lost), each webhook has its own cursor that moves only on a 2xx, a failing one
 * backs off alone, and events go out in the order the signals were emitted.
 */
export const SIGNAL_NOTIFY_SCHEMA = `
  CREATE TABLE notify_outbox (n INTEGER PRIMARY KEY AUTOINCREMENT, signal TEXT NOT NULL, token TEXT NOT NULL);
  CREATE TABLE notify_delivery (webhook TEXT PRIMARY KEY, through INTEGER NOT NULL, attempts INTEGER NOT NULL, next_at INTEGER NOT NULL);`;

function subscribers(config: BatonConfig): Webhook[] {
  return config.webhooks.filter((w) => w.events.includes("signal"));
}

/** Queues the signals just emitted, inside the emitting transaction; nothing when no webhook subscribed. */
export function queueSignalEvents(sql: SqlStorage, config: BatonConfig, signals: readonly { id: string; jws: string }[]): void {
  if (subscribers(config).length === 0) return;
  for (const s of signals) sql.exec("INSERT INTO notify_outbox (signal, token) VALUES (?, ?)", s.id, s.jws);
}

interface Cursor {
  through: number;
  attempts: number;
  next_at: number;
}

function cursorOf(sql: SqlStorage, webhook: string): Cursor {
  return sql.exec<Cursor & Record<string, number>>("SELECT through, attempts, next_at FROM notify_delivery WHERE webhook = ?", webhook).toArray()[0] ?? { through: 0, attempts: 0, next_at: 0 };
}

/** Whether some subscribed webhook has an event waiting and is due now (cheap: what the analyst checks after each delivery). */
export function signalEventsDue(sql: SqlStorage, config: BatonConfig, now: number): boolean {
  const hooks = subscribers(config);
  if (hooks.length === 0) return false;
  const last = sql.exec<{ n: number | null }>("SELECT MAX(n) AS n FROM notify_outbox").one().n;
  if (last === null) return false;
  return hooks.some((w) => {
    const c = cursorOf(sql, w.id);
    return c.through < last && (c.attempts === 0 || c.next_at <= now);
  });
}

/**
 * Sends each subscribed webhook the queued signal events after its cursor; answers when
 * to run again (a failing webhook's retry time, or now for a full page), or null.
 */
export async function deliverSignalEvents(
  sql: SqlStorage,
  run: { config: BatonConfig; keyring: Keyring; scope: string; fetcher: Fetcher; now: number },
): Promise<number | null> {
  const { config, keyring, scope, fetcher, now } = run;
  const hooks = subscribers(config);
  let wake: number | null = null;
  const soonest = (at: number) => {
    wake = wake === null ? at : Math.min(wake, at);
  };
  const [kind, ...rest] = scope.split(":");
  const consoleUrl = `${config.issuer}/console/signals?${kind}=${encodeURIComponent(rest.join(":"))}`;
  for (const webhook of hooks) {
    const cursor = cursorOf(sql, webhook.id);
    if (cursor.attempts > 0 && cursor.next_at > now) {
      soonest(cursor.next_at);
      continue;
    }
    const rows = sql.exec<{ n: number; signal: string; token: string }>("SELECT n, signal, token FROM notify_outbox WHERE n > ? ORDER BY n LIMIT ?", cursor.through, NOTIFY_BATCH).toArray();
    let through = cursor.through;
    for (const row of rows) {
      const jws = await signEvent(keyring, { iss: config.issuer, jti: row.signal, iat: Math.floor(now / 1000), event: "signal", scope, signal: row.token, console_url: consoleUrl });
      if (!(await postEvent(fetcher, webhook.url, jws))) break;
      through = row.n;
    }
    const failed = rows.length > 0 && through < (rows.at(-1)?.n ?? through);
    const attempts = failed ? cursor.attempts + 1 : 0;
    const nextAt = failed ? now + retryDelayMs(attempts) : 0;
    sql.exec(
      `INSERT INTO notify_delivery (webhook, through, attempts, next_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (webhook) DO UPDATE SET through = MAX(through, excluded.through), attempts = excluded.attempts, next_at = excluded.next_at`,
      webhook.id, through, attempts, nextAt,
    );
    if (failed) soonest(nextAt);
    else if (rows.length === NOTIFY_BATCH) soonest(now);
  }
  // What every subscriber has taken is no longer needed.
  if (hooks.length > 0) {
    const taken = Math.min(...hooks.map((w) => cursorOf(sql, w.id).through));
    sql.exec("DELETE FROM notify_outbox WHERE n <= ?", taken);
  }
  return wake;
}
