import { SignJWT, decodeProtectedHeader, exportJWK, generateKeyPair } from "jose";
import { Hono } from "hono";
import { beforeEach, describe, expect, it } from "vitest";
import { requireCapability } from "../../src/verifier/hono.js";
import { VerifierError, clearKeyCache, createVerifier } from "../../src/verifier/index.js";
import { DEV_KEY, type BatonUnderTest, batonUnderTest, call, startDeployment } from "./baton-under-test.js";

// One file, two runtimes: `npm test` runs it inside workerd and on Node.
const baton: BatonUnderTest = await batonUnderTest();
const canary = { service: "checkout", version: "2.4.1", percent: 5 };

/** A fetch that counts the JWKS requests, and can be made to fail like an unreachable issuer. */
function countingFetch() {
  const state = { jwks: 0, down: false };
  const wrapped: typeof fetch = async (input, init) => {
    if (state.down) throw new TypeError("fetch failed (issuer unreachable)");
    if (String(input instanceof Request ? input.url : input).endsWith("/.well-known/jwks.json")) state.jwks++;
    return baton.fetch(input, init);
  };
  return { state, fetch: wrapped };
}

function verifier(overrides: Partial<Parameters<typeof createVerifier>[0]> = {}) {
  return createVerifier({
    issuer: baton.issuer,
    audience: "deployer",
    baseUrl: baton.base,
    apiKey: DEV_KEY.deployer,
    fetch: baton.fetch,
    ...overrides,
  });
}

async function refusal(promise: Promise<unknown>): Promise<VerifierError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(VerifierError);
  return error as VerifierError;
}

beforeEach(() => clearKeyCache());

describe(`verifier (${baton.runtime})`, () => {
  it("verifies offline, then authorizes at the gate and gets the receipt", async () => {
    const { capability } = await startDeployment(baton);
    const v = verifier();
    const verified = await v.verify(capability, { action: "deploy.canary", args: canary });
    expect(verified.claims.stage).toBe("canary");
    expect(verified.grant).toMatchObject({ tool: "deployer", actions: ["deploy.canary"] });
    const { receipt } = await v.authorize(capability, { action: "deploy.canary", args: canary });
    expect(decodeProtectedHeader(receipt).typ).toBe("baton-receipt+jwt");
    // After acting, the tool reports the outcome; Baton receipts it.
    const reported = await v.reportOutcome(receipt, "succeeded");
    expect(decodeProtectedHeader(reported.receipt).typ).toBe("baton-receipt+jwt");
    expect((await refusal(v.reportOutcome(receipt, "failed"))).code).toBe("REPLAY_NONCE");
    // The gate, not the offline check, knows the token is spent.
    expect((await refusal(v.authorize(capability, { action: "deploy.canary", args: canary }))).code).toBe("REPLAY_NONCE");
  });

  it("the audience is always checked and cannot be left out", async () => {
    const { capability } = await startDeployment(baton);
    expect(() => createVerifier({ issuer: baton.issuer, audience: "" })).toThrow(/audience/);
    expect(() => createVerifier({ issuer: baton.issuer } as never)).toThrow(/audience/);
    const db = verifier({ audience: "db", apiKey: DEV_KEY.db });
    expect((await refusal(db.verify(capability, { action: "deploy.canary", args: canary }))).code).toBe("AUDIENCE_MISMATCH");
  });

  it("each offline failure has its code", async () => {
    const { capability } = await startDeployment(baton);
    const v = verifier();
    const now = Date.now();
    const code = async (token: string, action = "deploy.canary", args: Record<string, unknown> = canary, over = v) =>
      (await refusal(over.verify(token, { action, args }))).code;
    // The rollout is granted by a later stage: skipping to it is the step-order attack.
    const skipped = await refusal(v.verify(capability, { action: "deploy.rollout", args: canary }));
    expect([skipped.code, skipped.status]).toEqual(["SEQUENCE_VIOLATION", 409]);
    expect(skipped.details).toEqual({ action: "deploy.rollout", tool: "deployer", granted_in: ["rollout"], current_stage: "canary" });
    expect(await code(capability, "deploy.delete")).toBe("SCOPE_EXCEEDED");
    expect(await code(capability, "deploy.canary", { ...canary, percent: 50 })).toBe("CONDITION_FAILED");
    expect(await code(capability, "deploy.canary", { percent: 5 })).toBe("CONDITION_FAILED");
    expect(await code(capability, "deploy.canary", canary, verifier({ issuer: "https://someone-else.example" }))).toBe("TOKEN_INVALID");
    expect(await code(capability, "deploy.canary", canary, verifier({ now: () => now + 3600_000 }))).toBe("TOKEN_EXPIRED");
    expect(await code(capability, "deploy.canary", canary, verifier({ now: () => now - 3600_000 }))).toBe("TOKEN_INVALID");
    const [h, p, s] = capability.split(".") as [string, string, string];
    expect(await code(`${h}.${p}.${s.slice(0, -2)}${s.endsWith("AA") ? "BA" : "AA"}`)).toBe("TOKEN_INVALID");
    expect(await code("not-a-token")).toBe("TOKEN_INVALID");
    // A token signed by a key Baton never published, with Baton's kid.
    const forger = await generateKeyPair("EdDSA");
    const claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(p.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0))));
    const forged = await new SignJWT(claims).setProtectedHeader(decodeProtectedHeader(capability) as never).sign(forger.privateKey);
    expect(await code(forged)).toBe("TOKEN_INVALID");
  });

  it("key rotation: an unknown kid forces a refresh, rate-limited, then verifies", async () => {
    const { capability } = await startDeployment(baton);
    const { publicKey } = await generateKeyPair("EdDSA", { extractable: true });
    const stranger = { ...(await exportJWK(publicKey)), kid: "someone-else", alg: "EdDSA" };
    let rotated = false;
    const counted = { jwks: 0 };
    // The issuer first publishes a set without the signing key (before rotation), then the real one.
    const rotatingFetch: typeof fetch = async (input, init) => {
      const url = String(input instanceof Request ? input.url : input);
      if (url.endsWith("/.well-known/jwks.json")) {
        counted.jwks++;
        if (!rotated) return Response.json({ keys: [stranger] });
      }
      return baton.fetch(input, init);
    };
    let clock = Date.now();
    const v = verifier({ fetch: rotatingFetch, now: () => clock });
    expect((await refusal(v.verify(capability, { action: "deploy.canary", args: canary }))).code).toBe("TOKEN_INVALID");
    rotated = true;
    clock += 1000;
    // Within the refresh interval an unknown kid does not refetch: a flood of bogus kids cannot hammer the issuer.
    expect((await refusal(v.verify(capability, { action: "deploy.canary", args: canary }))).code).toBe("TOKEN_INVALID");
    expect(counted.jwks).toBe(1);
    clock += 30_000;
    await expect(v.verify(capability, { action: "deploy.canary", args: canary })).resolves.toBeDefined();
    expect(counted.jwks).toBe(2);
  });

  it("concurrent verifications share one JWKS fetch; issuer down: cached keys verify, unknown ones fail closed", async () => {
    const { capability } = await startDeployment(baton);
    const { state, fetch } = countingFetch();
    const v = verifier({ fetch });
    await Promise.all(Array.from({ length: 20 }, () => v.verify(capability, { action: "deploy.canary", args: canary })));
    expect(state.jwks).toBe(1);
    state.down = true;
    await expect(v.verify(capability, { action: "deploy.canary", args: canary })).resolves.toBeDefined();
    clearKeyCache();
    const cold = verifier({ fetch });
    expect((await refusal(cold.verify(capability, { action: "deploy.canary", args: canary }))).code).toBe("ISSUER_UNAVAILABLE");
    expect((await refusal(v.redeem(capability, { action: "deploy.canary", args: canary }))).code).toBe("ISSUER_UNAVAILABLE");
  });

  it("Hono middleware: an allowed call runs once; a replay or another action never reaches the handler", async () => {
    const v = verifier();
    const ran: string[] = [];
    const app = new Hono();
    app.post("/deploy/canary", requireCapability(v, { action: "deploy.canary" }), (c) => {
      ran.push(`canary ${c.get("capability").claims.seq}`);
      return c.json({ deployed: true, receipt: c.get("receipt") });
    });
    app.post("/deploy/rollout", requireCapability(v, { action: "deploy.rollout" }), (c) => {
      ran.push("rollout");
      return c.json({ deployed: true });
    });
    const { seq, capability } = await startDeployment(baton);
    const send = (path: string, token?: string) =>
      app.request(path, {
        method: "POST",
        headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ service: "checkout", version: "2.4.1", percent: 5 }),
      });

    const skipped = await send("/deploy/rollout", capability);
    expect(skipped.status).toBe(409);
    expect(((await skipped.json()) as any).error).toMatchObject({ code: "SEQUENCE_VIOLATION", details: { granted_in: ["rollout"] } });
    expect((((await (await send("/deploy/canary")).json()) as any).error.code)).toBe("UNAUTHENTICATED");
    const first = await send("/deploy/canary", capability);
    expect(first.status).toBe(200);
    const replay = await send("/deploy/canary", capability);
    expect(replay.status).toBe(409);
    expect(((await replay.json()) as any).error.code).toBe("REPLAY_NONCE");
    expect(ran).toEqual([`canary ${seq}`]);
    // The ledger agrees: one use.
    expect((await call(baton, "GET", `/v1/sequences/${seq}`, DEV_KEY.orchestrator)).body.uses[0].used).toBe(1);
  });

  it("authorize: every refusal of a genuine capability is receipted at the gate with its code, spending nothing; junk makes no call", async () => {
    const { seq, capability } = await startDeployment(baton);
    const gateCalls: unknown[] = [];
    const watching: typeof fetch = async (input, init) => {
      if (String(input instanceof Request ? input.url : input).endsWith("/v1/redeem")) gateCalls.push(JSON.parse(String(init?.body)));
      return baton.fetch(input, init);
    };
    const v = verifier({ fetch: watching });
    const db = verifier({ audience: "db", apiKey: DEV_KEY.db, fetch: watching });
    const late = verifier({ fetch: watching, now: () => Date.now() + 3600_000 });
    const attempts: [() => Promise<unknown>, string][] = [
      [() => v.authorize(capability, { action: "deploy.rollout", args: { service: "checkout", version: "2.4.1" } }), "SEQUENCE_VIOLATION"],
      [() => v.authorize(capability, { action: "deploy.delete", args: {} }), "SCOPE_EXCEEDED"],
      [() => v.authorize(capability, { action: "deploy.canary", args: { ...canary, percent: 50 } }), "CONDITION_FAILED"],
      [() => db.authorize(capability, { action: "db.query", args: {} }), "AUDIENCE_MISMATCH"],
      [() => late.authorize(capability, { action: "deploy.canary", args: canary }), "TOKEN_EXPIRED"],
    ];
    const refusals: VerifierError[] = [];
    for (const [attempt, expected] of attempts) {
      const refused = await refusal(attempt());
      expect(refused.code).toBe(expected);
      expect(refused.receipt).toMatch(/^eyJ/);
      refusals.push(refused);
    }
    expect(gateCalls).toHaveLength(attempts.length);
    expect(gateCalls.every((body) => (body as { refused?: unknown }).refused !== undefined)).toBe(true);
    // The chain holds each of them, with the same code, and nothing was spent.
    const chain = await baton.fetch(`${baton.base}/v1/sequences/${seq}/receipts`, { headers: { authorization: `Bearer ${DEV_KEY.auditor}` } });
    const lines = (await chain.text()).trim().split("\n");
    for (const refused of refusals) expect(lines).toContain(refused.receipt);
    const codes = lines.map((line) => JSON.parse(atob((line.split(".")[1] as string).replace(/-/g, "+").replace(/_/g, "/"))).code);
    expect(codes).toEqual([null, "SEQUENCE_VIOLATION", "SCOPE_EXCEEDED", "CONDITION_FAILED", "AUDIENCE_MISMATCH", "TOKEN_EXPIRED"]);
    expect((await call(baton, "GET", `/v1/sequences/${seq}`, DEV_KEY.orchestrator)).body.uses[0].used).toBe(0);
    // Junk (not Baton's signature) is refused offline: no call to the gate, no receipt.
    const [h, p, sig] = capability.split(".") as [string, string, string];
    const tampered = `${h}.${p}.${sig.slice(0, -2)}${sig.endsWith("AA") ? "BA" : "AA"}`;
    const junk = await refusal(v.authorize(tampered, { action: "deploy.canary", args: canary }));
    expect([junk.code, junk.receipt]).toEqual(["TOKEN_INVALID", null]);
    expect(gateCalls).toHaveLength(attempts.length);
    // The genuine capability still works: a report never spent it.
    await expect(v.authorize(capability, { action: "deploy.canary", args: canary })).resolves.toMatchObject({ sealed: false });
  });

  it("screen: the capability alone, or its scope for an action, offline and never spending it; a scope refusal is receipted with the sequence's current stage", async () => {
    const { seq, capability } = await startDeployment(baton);
    const gateCalls: unknown[] = [];
    const watching: typeof fetch = async (input, init) => {
      if (String(input instanceof Request ? input.url : input).endsWith("/v1/redeem")) gateCalls.push(JSON.parse(String(init?.body)));
      return baton.fetch(input, init);
    };
    const v = verifier({ fetch: watching });
    expect((await v.screen(capability)).stage).toBe("canary");
    // The grant's `where` is not screened: the arguments are judged by authorize.
    expect((await v.screen(capability, { action: "deploy.canary", args: { ...canary, percent: 50 } })).seq).toBe(seq);
    expect(gateCalls).toHaveLength(0);

    const skipped = await refusal(v.screen(capability, { action: "deploy.rollout", args: {} }));
    expect([skipped.code, skipped.currentStage]).toEqual(["SEQUENCE_VIOLATION", "canary"]);
    expect(decodeProtectedHeader(String(skipped.receipt)).typ).toBe("baton-receipt+jwt");
    expect((await refusal(v.screen(capability, { action: "deploy.delete" }))).code).toBe("SCOPE_EXCEEDED");
    expect(gateCalls).toHaveLength(2);
    // Without an action nothing is reported; junk never is.
    const db = verifier({ audience: "db", apiKey: DEV_KEY.db, fetch: watching });
    const elsewhere = await refusal(db.screen(capability));
    expect([elsewhere.code, elsewhere.receipt, elsewhere.currentStage]).toEqual(["AUDIENCE_MISMATCH", null, null]);
    expect((await refusal(v.screen("not-a-token", { action: "deploy.canary" }))).receipt).toBeNull();
    expect(gateCalls).toHaveLength(2);

    // Nothing was spent; the gate's own refusals name the current stage too.
    await expect(v.authorize(capability, { action: "deploy.canary", args: canary })).resolves.toMatchObject({ sealed: false });
    const replay = await refusal(v.authorize(capability, { action: "deploy.canary", args: canary }));
    expect([replay.code, replay.currentStage]).toEqual(["REPLAY_NONCE", "canary"]);
  });

  it("an offline refusal the gate cannot receipt (Baton unreachable) stands, without a receipt", async () => {
    const { capability } = await startDeployment(baton);
    const { state, fetch } = countingFetch();
    const v = verifier({ fetch });
    await v.verify(capability, { action: "deploy.canary", args: canary }); // keys cached
    state.down = true;
    const refused = await refusal(v.authorize(capability, { action: "deploy.rollout", args: {} }));
    expect([refused.code, refused.receipt]).toEqual(["SEQUENCE_VIOLATION", null]);
    expect((refused.cause as VerifierError).code).toBe("ISSUER_UNAVAILABLE");
  });

  it("without an apiKey: verify works, the gate calls say TOOL_CREDENTIAL_MISSING, the middleware refuses at setup", async () => {
    const { capability } = await startDeployment(baton);
    const offline = createVerifier({ issuer: baton.issuer, audience: "deployer", baseUrl: baton.base, fetch: baton.fetch });
    expect(offline.online).toBe(false);
    await expect(offline.verify(capability, { action: "deploy.canary", args: canary })).resolves.toBeDefined();
    const missing = await refusal(offline.authorize(capability, { action: "deploy.canary", args: canary }));
    expect([missing.code, missing.status]).toEqual(["TOOL_CREDENTIAL_MISSING", 500]);
    expect(missing.message).toMatch(/apiKey/);
    expect(() => requireCapability(offline, { action: "deploy.canary" })).toThrow(/apiKey/);
  });

  it("a tool whose own API key is wrong: TOOL_CREDENTIAL_REFUSED, which says it is the tool's credential", async () => {
    const { seq, capability } = await startDeployment(baton);
    for (const apiKey of ["not-a-key-baton-knows", DEV_KEY.agent]) {
      const wrong = verifier({ apiKey });
      const refused = await refusal(wrong.authorize(capability, { action: "deploy.canary", args: canary }));
      expect([refused.code, refused.status]).toEqual(["TOOL_CREDENTIAL_REFUSED", 502]);
      expect(refused.message).toMatch(/this tool server's own API key/);
      expect(refused.message).not.toMatch(/Authorization: Bearer <key>\)$/);
    }
    // Nothing was used.
    expect((await call(baton, "GET", `/v1/sequences/${seq}`, DEV_KEY.orchestrator)).body.uses[0].used).toBe(0);
  });
});
