import { env, runInDurableObject } from "cloudflare:test";
import { decodeJwt, decodeProtectedHeader } from "jose";
import { describe, expect, it } from "vitest";
import { deliverSignalEvents, queueSignalEvents, signalEventsDue } from "../src/analysis/signal-notify.js";
import { loadKeyring } from "../src/config/keyring.js";
import { loadConfig, parseConfig } from "../src/config/load.js";
import { receiptEvent } from "../src/tokens/event.js";

/** A receiver answering `statuses` in turn (then 200); each webhook gets its own. */
function receiver(statuses: Record<string, number[]>) {
  const got: { url: string; jti: string; status: number }[] = [];
  const fetcher = async (url: string, init: RequestInit) => {
    const status = statuses[url]?.shift() ?? 200;
    got.push({ url, jti: decodeJwt(String(init.body)).jti as string, status });
    return new Response("ignored", { status });
  };
  return { got, fetcher };
}

describe("signal webhooks: the analyst's own outbox", () => {
  it("queued with the signal, sent in order to each subscriber, retried with backoff alone, removed once every subscriber has it", async () => {
    const base = await loadConfig(env);
    const config = {
      ...base,
      webhooks: [
        { id: "a", url: "https://a.example/hook", events: ["signal" as const] },
        { id: "b", url: "https://b.example/hook", events: ["signal" as const, "sealed" as const] },
        { id: "c", url: "https://c.example/hook", events: ["sealed" as const] },
      ],
    };
    const keyring = await loadKeyring(env);
    const analyst = env.ANALYSTS.get(env.ANALYSTS.idFromName(`actor:notify-${crypto.randomUUID()}`));
    await runInDurableObject(analyst, async (_instance, state) => {
      const sql = state.storage.sql;
      const { got, fetcher } = receiver({ "https://b.example/hook": [500] });
      const run = (now: number) => deliverSignalEvents(sql, { config, keyring, scope: "actor:agent 7", fetcher, now });
      state.storage.transactionSync(() => queueSignalEvents(sql, config, [{ id: "s-1", jws: "x.y.z" }, { id: "s-2", jws: "x.y.z" }]));
      expect(signalEventsDue(sql, config, 0)).toBe(true);

      expect(await run(1_000)).toBe(3_000);
      expect(got.filter((g) => g.url.startsWith("https://a.")).map((g) => g.jti)).toEqual(["s-1", "s-2"]);
      // b refused s-1: s-2 waited behind it; c subscribed to no signals and got nothing.
      expect(got.filter((g) => g.url.startsWith("https://b.")).map((g) => g.jti)).toEqual(["s-1"]);
      expect(got.some((g) => g.url.startsWith("https://c."))).toBe(false);
      expect(signalEventsDue(sql, config, 2_999)).toBe(false);
      expect(sql.exec("SELECT COUNT(*) AS c FROM notify_outbox").one().c).toBe(2);

      expect(await run(3_000)).toBeNull();
      expect(got.filter((g) => g.url.startsWith("https://b.")).map((g) => [g.jti, g.status])).toEqual([["s-1", 500], ["s-1", 200], ["s-2", 200]]);
      expect(sql.exec("SELECT COUNT(*) AS c FROM notify_outbox").one().c).toBe(0);
      expect(signalEventsDue(sql, config, 3_000)).toBe(false);

      // Positions are never reused after the delivered rows are gone (AUTOINCREMENT): a new signal still goes out.
      state.storage.transactionSync(() => queueSignalEvents(sql, config, [{ id: "s-3", jws: "x.y.z" }]));
      await run(4_000);
      expect(got.filter((g) => g.jti === "s-3").map((g) => g.url)).toEqual(["https://a.example/hook", "https://b.example/hook"]);
    });
    const [first] = await runInDurableObject(analyst, async (_i, state) => {
      // Nothing queued when no webhook subscribed to signals.
      state.storage.transactionSync(() => queueSignalEvents(state.storage.sql, { ...config, webhooks: [config.webhooks[2]!] }, [{ id: "s-4", jws: "x.y.z" }]));
      return state.storage.sql.exec("SELECT COUNT(*) AS c FROM notify_outbox").toArray();
    });
    expect(first).toEqual({ c: 0 });
  });

  it("the event is signed with the service key, typ baton-event+jwt, and links to the party's signals in the console", async () => {
    const config = { ...(await loadConfig(env)), webhooks: [{ id: "a", url: "https://a.example/hook", events: ["signal" as const] }] };
    const keyring = await loadKeyring(env);
    const bodies: string[] = [];
    const fetcher = async (_url: string, init: RequestInit) => {
      bodies.push(String(init.body));
      return new Response(null, { status: 204 });
    };
    const analyst = env.ANALYSTS.get(env.ANALYSTS.idFromName(`actor:notify-${crypto.randomUUID()}`));
    await runInDurableObject(analyst, async (_i, state) => {
      queueSignalEvents(state.storage.sql, config, [{ id: "s-9", jws: "a.b.c" }]);
      await deliverSignalEvents(state.storage.sql, { config, keyring, scope: "subject:user:alice", fetcher, now: 5_000_000 });
    });
    expect(decodeProtectedHeader(bodies[0]!)).toMatchObject({ typ: "baton-event+jwt", alg: "EdDSA" });
    expect(decodeJwt(bodies[0]!)).toEqual({
      iss: "https://baton.test",
      jti: "s-9",
      iat: 5_000,
      event: "signal",
      scope: "subject:user:alice",
      signal: "a.b.c",
      console_url: "https://baton.test/console/signals?subject=user%3Aalice",
    });
  });
});

describe("webhook configuration and events", () => {
  const testConfig = { issuer: "https://baton.test", workflows: [], clients: [{ id: "o", role: "operator", key_sha256: "0".repeat(64) }] };
  const withHook = (url: string) => ({ ...testConfig, webhooks: [{ id: "h", url, events: ["sealed"] }] });

  it("https anywhere; http only to the loopback, and only in development", async () => {
    await expect(parseConfig(withHook("https://hooks.example/x"))).resolves.toMatchObject({ webhooks: [{ id: "h" }] });
    await expect(parseConfig(withHook("http://127.0.0.1:9/x"), "binding", { development: true })).resolves.toBeTruthy();
    await expect(parseConfig(withHook("http://localhost:9/x"))).rejects.toThrow(/webhooks\[0\]\.url: https required outside development/);
    await expect(parseConfig(withHook("http://hooks.example/x"), "binding", { development: true })).rejects.toThrow(/webhooks\[0\]\.url/);
    await expect(parseConfig(withHook("https://user:pw@hooks.example/x"))).rejects.toThrow(/no credentials/);
    await expect(parseConfig(withHook("ftp://hooks.example/x"))).rejects.toThrow(/webhooks\[0\]\.url/);
    await expect(parseConfig({ ...testConfig, webhooks: [{ id: "h", url: "https://a.example", events: ["paid"] }] })).rejects.toThrow(/events/);
    const many = Array.from({ length: 17 }, (_, i) => ({ id: `h${i}`, url: "https://a.example", events: ["sealed"] }));
    await expect(parseConfig({ ...testConfig, webhooks: many })).rejects.toThrow(/webhooks/);
  });

  it("which receipts are events", () => {
    expect(receiptEvent({ decision: "ESCALATE", effects: [] })).toBe("escalated");
    expect(receiptEvent({ decision: "ALLOW", effects: [{ type: "use" }, { type: "seal", reason: "completed" }] })).toBe("sealed");
    expect(receiptEvent({ decision: "ALLOW", effects: [{ type: "seal", reason: "revoked" }] })).toBe("revoked");
    expect(receiptEvent({ decision: "ALLOW", effects: [{ type: "advance" }] })).toBeNull();
    expect(receiptEvent({ decision: "DENY", effects: [] })).toBeNull();
  });
});
