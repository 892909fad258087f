import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { describe, expect, it } from "vitest";
import { BatonError } from "../../src/errors.js";
import { VerifierError } from "../../src/verifier/errors.js";
import { requireCapability } from "../../src/verifier/hono.js";
import { createVerifier } from "../../src/verifier/index.js";
import { clearKeyCache, remoteKeySet } from "../../src/verifier/jwks.js";

const verifier = createVerifier({ issuer: "https://baton.test", audience: "deployer", apiKey: "tool-key", fetch: async () => new Response(null, { status: 599 }) });

describe("requireCapability refusals", () => {
  it("without onError: Baton's envelope and status, as before", async () => {
    const app = new Hono();
    app.post("/deploy", requireCapability(verifier, { action: "deploy.canary" }), (c) => c.text("ran"));
    const response = await app.request("/deploy", { method: "POST" });
    expect(response.status).toBe(401);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await response.json()).toEqual({
      error: { code: "UNAUTHENTICATED", message: "a Baton capability is required (Authorization: Bearer <token>)", receipt: null },
    });
  });

  it("with onError: the app shapes the refusal (an HTTPException carrying the VerifierError)", async () => {
    const app = new Hono();
    app.onError((error, c) => {
      if (error instanceof HTTPException && error.cause instanceof VerifierError) return c.json({ refused: error.cause.code }, error.status);
      return c.text("unexpected", 500);
    });
    app.post("/deploy", requireCapability(verifier, { action: "deploy.canary" }), (c) => c.text("ran"));
    const response = await app.request("/deploy", { method: "POST", headers: { authorization: "Bearer a.b.c" } });
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ refused: "TOKEN_INVALID" });
  });
});

describe("one error shape", () => {
  it("BatonError and VerifierError serialize to the same envelope", () => {
    const options = { details: { left: 2 }, receipt: "eyJ" };
    expect(new BatonError("SCOPE_EXCEEDED", "no", options).toJSON()).toEqual(new VerifierError("SCOPE_EXCEEDED", "no", options).toJSON());
    expect(JSON.stringify(new VerifierError("ISSUER_UNAVAILABLE", "down"))).toBe('{"error":{"code":"ISSUER_UNAVAILABLE","message":"down","receipt":null}}');
    expect([new BatonError("INTERNAL", "x").status, new VerifierError("TOOL_CREDENTIAL_REFUSED", "x").status]).toEqual([500, 502]);
  });
});

describe("remote key set", () => {
  it("abandons a JWKS fetch that does not answer within the timeout: ISSUER_UNAVAILABLE, not a hang", async () => {
    clearKeyCache();
    const hanging: typeof fetch = (_input, init) =>
      new Promise((_resolve, reject) => init?.signal?.addEventListener("abort", () => reject(init.signal?.reason)));
    const keys = remoteKeySet("https://hangs.example/jwks.json", { fetch: hanging, now: Date.now, timeoutMs: 50 });
    const started = Date.now();
    const [first, second] = await Promise.allSettled([keys.key("k1"), keys.key("k1")]);
    expect(Date.now() - started).toBeLessThan(5_000);
    for (const result of [first, second]) {
      expect(result.status).toBe("rejected");
      expect((result as PromiseRejectedResult).reason).toMatchObject({ code: "ISSUER_UNAVAILABLE" });
    }
  });

  it("a waiter does not wait past the timeout for a fetch another caller started: it fetches for itself", async () => {
    clearKeyCache();
    let calls = 0;
    // The first fetch never settles (as one started by a request that has ended); the second answers.
    const fetchOnce: typeof fetch = async () => {
      calls++;
      if (calls === 1) return new Promise<Response>(() => {});
      return Response.json({ keys: [] });
    };
    const keys = remoteKeySet("https://stuck.example/jwks.json", { fetch: fetchOnce, now: Date.now, timeoutMs: 50 });
    void keys.key("k1").catch(() => {});
    await expect(keys.key("k1")).resolves.toBeUndefined();
    expect(calls).toBe(2);
  });
});
