import { decodeJwt, exportJWK, generateKeyPair } from "jose";
import { describe, expect, it, vi } from "vitest";
import { createDpopProof } from "../src/tokens/dpop.js";
import { KEY, PARAMS, api, attest, ledgerState, receipts, redeem, start, submitEvidence } from "./helpers.js";

// The token exchange at POST /oauth/token (RFC 8693), inside workerd with the real ledgers:
// the error matrix of RFC 6749 §5.2 / RFC 8693 §2.2.2 / RFC 9449 §5, each refusal with its
// Baton code and no state change; narrowing to one tool; idempotence; DPoP.
// (test/node/oauth4webapi.test.ts drives the same endpoint with an independent client.)

const ENDPOINT = "https://baton.test/oauth/token";
const CAPABILITY = "urn:baton:params:oauth:token-type:capability";
const EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";

const basic = (id: string, secret: string) => `Basic ${btoa(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`)}`;
const AGENT = basic("agent-7", KEY.agent);

type Form = Record<string, string | string[]>;

function exchangeForm(subject: string, extra: Form = {}): Form {
  return { grant_type: EXCHANGE, subject_token: subject, subject_token_type: CAPABILITY, audience: "deployer", ...extra };
}

/** POSTs a form to the token endpoint (`authorization: null` sends none). */
function tokenRequest(form: Form, options: { authorization?: string | null; headers?: Record<string, string>; raw?: string; contentType?: string } = {}) {
  const body = new URLSearchParams();
  for (const [name, value] of Object.entries(form)) for (const v of [value].flat()) body.append(name, v);
  const headers: Record<string, string> = { "content-type": options.contentType ?? "application/x-www-form-urlencoded", ...options.headers };
  const authorization = options.authorization === undefined ? AGENT : options.authorization;
  if (authorization !== null) headers.authorization = authorization;
  return api("POST", "/oauth/token", { headers, raw: options.raw ?? body.toString() });
}

/** A refusal: its status, OAuth error and Baton code, and the sequence exactly as before (no receipt either). */
async function expectRefused(seq: string, send: () => ReturnType<typeof tokenRequest>, status: number, error: string, code: string) {
  const [before, chain] = [await ledgerState(seq), (await receipts(seq)).length];
  const result = await send();
  expect([result.status, result.body.error, result.body.baton_code], JSON.stringify(result.body)).toEqual([status, error, code]);
  expect(result.body.error_description).toMatch(/^[\x20-\x21\x23-\x5b\x5d-\x7e]+$/);
  expect(result.headers.get("cache-control")).toBe("no-store");
  expect(await ledgerState(seq)).toEqual(before);
  expect((await receipts(seq)).length).toBe(chain);
  return result;
}

describe("POST /oauth/token: the exchange", () => {
  it("a capability for one tool: the stage's own, byte for byte, when the stage has one tool; redeemable at the gate", async () => {
    const { seq, capability } = await start("deployment");
    const chain = (await receipts(seq)).length;
    const result = await tokenRequest(exchangeForm(capability));
    expect(result.status, JSON.stringify(result.body)).toBe(200);
    expect(result.body).toEqual({
      access_token: capability,
      issued_token_type: CAPABILITY,
      token_type: "Bearer",
      expires_in: expect.any(Number),
      scope: "deploy.canary",
    });
    expect(result.body.expires_in).toBeGreaterThan(590);
    expect(result.body.expires_in).toBeLessThanOrEqual(600);
    expect(result.headers.get("cache-control")).toBe("no-store");
    expect(result.headers.get("pragma")).toBe("no-cache");
    // A read: nothing receipted, nothing changed.
    expect((await receipts(seq)).length).toBe(chain);
    const redeemed = await redeem(KEY.deployer, result.body.access_token, "deploy.canary", { ...PARAMS.deployment, percent: 5 });
    expect(redeemed.body.decision).toBe("ALLOW");
  });

  it("a stage of two tools: each exchange is addressed to one of them only, and the other cannot use it", async () => {
    const { seq, capability } = await start("two-keys");
    expect(decodeJwt(capability).aud).toEqual(["db", "deployer"]);
    const forDb = await tokenRequest(exchangeForm(capability, { audience: "db" }));
    expect(forDb.status, JSON.stringify(forDb.body)).toBe(200);
    const claims = decodeJwt(forDb.body.access_token);
    const whole = decodeJwt(capability);
    expect(claims.aud).toEqual(["db"]);
    expect(claims.authorization_details).toEqual([expect.objectContaining({ tool: "db", actions: ["db.read"] })]);
    expect([claims.jti, claims.exp, claims.receipt, claims.stage]).toEqual([whole.jti, whole.exp, whole.receipt, whole.stage]);
    expect(forDb.body.scope).toBe("db.read");

    // The deployer tool cannot use the db's capability, at the gate or anywhere (AUDIENCE_MISMATCH, receipted).
    const stolen = await redeem(KEY.deployer, forDb.body.access_token, "deploy.plan", { plan: ["x"] });
    expect(stolen.body.error.code).toBe("AUDIENCE_MISMATCH");
    const used = await redeem(KEY.db, forDb.body.access_token, "db.read", { rows: 10 });
    expect(used.body.decision).toBe("ALLOW");
    // A narrowed capability cannot be widened again: exchanging it for the other tool is invalid_target.
    await expectRefused(seq, () => tokenRequest(exchangeForm(forDb.body.access_token, { audience: "deployer" })), 400, "invalid_target", "AUDIENCE_MISMATCH");
    const forDeployer = await tokenRequest(exchangeForm(capability, { audience: "deployer", scope: "deploy.plan" }));
    expect(decodeJwt(forDeployer.body.access_token).aud).toEqual(["deployer"]);
  });

  it("idempotent: the same request twice gives the same token, and changes nothing", async () => {
    const { seq, capability } = await start("two-keys");
    const before = [await ledgerState(seq), (await receipts(seq)).length];
    const first = await tokenRequest(exchangeForm(capability, { audience: "db" }));
    const second = await tokenRequest(exchangeForm(capability, { audience: "db" }));
    expect(second.body.access_token).toBe(first.body.access_token);
    expect([await ledgerState(seq), (await receipts(seq)).length]).toEqual(before);
  });

  it("resource= names a tool through its configured resource indicator (RFC 8707), in its normalised form", async () => {
    const { capability } = await start("deployment");
    for (const resource of ["http://localhost:3001/mcp", "HTTP://LOCALHOST:3001/mcp"]) {
      const result = await tokenRequest(exchangeForm(capability, { audience: [], resource }));
      expect(result.status, JSON.stringify(result.body)).toBe(200);
      expect(decodeJwt(result.body.access_token).aud).toEqual(["deployer"]);
    }
    // The access-token type is a synonym, echoed when asked for.
    const generic = await tokenRequest(exchangeForm(capability, { requested_token_type: "urn:ietf:params:oauth:token-type:access_token" }));
    expect(generic.body.issued_token_type).toBe("urn:ietf:params:oauth:token-type:access_token");
  });

  it("an expired capability of the current stage: the stage's is re-issued once (receipted), then handed out again as is", async () => {
    // The Worker and its Durable Objects share the test's fake Date in workerd.
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      const { seq, capability } = await start("short-lived"); // ttl 1 s, no skew, one re-issue
      vi.setSystemTime((decodeJwt(capability).exp as number) * 1000 + 1000);
      const chain = (await receipts(seq)).length;
      const first = await tokenRequest(exchangeForm(capability));
      expect(first.status, JSON.stringify(first.body)).toBe(200);
      expect(decodeJwt(first.body.access_token).jti).not.toBe(decodeJwt(capability).jti);
      expect((await receipts(seq)).length).toBe(chain + 1);
      // A retry (with the old, now superseded token) is answered from the live capability: no second re-issue.
      const retry = await tokenRequest(exchangeForm(capability));
      expect(retry.body.access_token).toBe(first.body.access_token);
      expect((await receipts(seq)).length).toBe(chain + 1);
      // Out of re-issues: the stage's limit holds here as at the capability endpoint (a receipted DENY).
      vi.setSystemTime((decodeJwt(first.body.access_token).exp as number) * 1000 + 1000);
      const spent = await tokenRequest(exchangeForm(capability));
      expect([spent.status, spent.body.error, spent.body.baton_code]).toEqual([400, "invalid_request", "SCOPE_EXCEEDED"]);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("POST /oauth/token: every refusal is OAuth's, with its Baton code, and changes nothing", () => {
  it("client authentication: invalid_client 401 with a Basic challenge; a tool is unauthorized_client", async () => {
    const { seq, capability } = await start("deployment");
    const form = exchangeForm(capability);
    for (const authorization of [
      null,
      basic("agent-7", "wrong-key"),
      basic("agent-2", KEY.agent), // the right key under another client's id
      basic("agent-7", `${KEY.agent}x`),
      `Bearer ${KEY.agent}`, // an API key the API way is not OAuth client authentication
      "Basic !!!",
      `Basic ${btoa("agent-7")}`, // no colon
      `Basic ${btoa("agent-7:%zz")}`, // bad percent-encoding
    ]) {
      const result = await expectRefused(seq, () => tokenRequest(form, { authorization }), 401, "invalid_client", "UNAUTHENTICATED");
      expect(result.headers.get("www-authenticate")).toMatch(/^Basic realm="baton"/);
    }
    // client_secret_post is not a method Baton takes; two methods at once are invalid_request.
    await expectRefused(seq, () => tokenRequest({ ...form, client_id: "agent-7", client_secret: KEY.agent }, { authorization: null }), 401, "invalid_client", "UNAUTHENTICATED");
    await expectRefused(seq, () => tokenRequest({ ...form, client_secret: KEY.agent }), 400, "invalid_request", "INVALID_REQUEST");
    await expectRefused(seq, () => tokenRequest({ ...form, client_id: "agent-2" }), 401, "invalid_client", "UNAUTHENTICATED");
    await expectRefused(seq, () => tokenRequest(form, { authorization: basic("deployer", KEY.deployer) }), 400, "unauthorized_client", "FORBIDDEN");
    // The right client id in the body as well is fine.
    expect((await tokenRequest({ ...form, client_id: "agent-7" })).status).toBe(200);
  });

  it("another agent's capability is not the caller's to exchange", async () => {
    const { seq, capability } = await start("deployment");
    await expectRefused(seq, () => tokenRequest(exchangeForm(capability), { authorization: basic("agent-2", KEY.agent2) }), 400, "invalid_request", "FORBIDDEN");
  });

  it("the grant and the form: unsupported_grant_type, invalid_request for anything malformed", async () => {
    const { seq, capability } = await start("deployment");
    const form = exchangeForm(capability);
    await expectRefused(seq, () => tokenRequest({ ...form, grant_type: "client_credentials" }), 400, "unsupported_grant_type", "INVALID_REQUEST");
    await expectRefused(seq, () => tokenRequest({ ...form, grant_type: "authorization_code" }), 400, "unsupported_grant_type", "INVALID_REQUEST");
    const { grant_type: _g, ...noGrant } = form;
    await expectRefused(seq, () => tokenRequest(noGrant), 400, "invalid_request", "INVALID_REQUEST");
    const { subject_token: _s, ...noSubject } = form;
    await expectRefused(seq, () => tokenRequest(noSubject), 400, "invalid_request", "INVALID_REQUEST");
    // An empty value counts as omitted (RFC 6749 §3.2).
    await expectRefused(seq, () => tokenRequest({ ...form, subject_token: "" }), 400, "invalid_request", "INVALID_REQUEST");
    await expectRefused(seq, () => tokenRequest({ ...form, subject_token_type: "urn:ietf:params:oauth:token-type:jwt" }), 400, "invalid_request", "INVALID_REQUEST");
    await expectRefused(seq, () => tokenRequest({ ...form, requested_token_type: "urn:ietf:params:oauth:token-type:refresh_token" }), 400, "invalid_request", "INVALID_REQUEST");
    await expectRefused(seq, () => tokenRequest({ ...form, subject_token_type: [CAPABILITY, CAPABILITY] }), 400, "invalid_request", "INVALID_REQUEST");
    await expectRefused(seq, () => tokenRequest({ ...form, actor_token: capability, actor_token_type: CAPABILITY }), 400, "invalid_request", "INVALID_REQUEST");
    await expectRefused(seq, () => tokenRequest({ ...form, subject_token: "x".repeat(9000) }), 400, "invalid_request", "INVALID_REQUEST");
    // Not a form: JSON, none at all, text.
    await expectRefused(seq, () => tokenRequest(form, { contentType: "application/json", raw: JSON.stringify(form) }), 400, "invalid_request", "UNSUPPORTED_MEDIA_TYPE");
    await expectRefused(seq, () => tokenRequest(form, { contentType: "text/plain" }), 400, "invalid_request", "UNSUPPORTED_MEDIA_TYPE");
    // Junk as a form is a form without the parameters.
    await expectRefused(seq, () => tokenRequest(form, { raw: "%%%&&&===\u0000" }), 400, "invalid_request", "INVALID_REQUEST");
    // Unknown parameters are ignored (RFC 6749 §3.2).
    expect((await tokenRequest({ ...form, foo: "bar" })).status).toBe(200);
  });

  it("the subject token: invalid_request TOKEN_INVALID for one that does not verify", async () => {
    const { seq, capability } = await start("deployment");
    const [h, p, s] = capability.split(".") as [string, string, string];
    // The altered signature must differ from the real one (one in 256 of them ends in "AA").
    const altered = `${s.slice(0, -2)}${s.endsWith("AA") ? "BA" : "AA"}`;
    for (const subject of ["not-a-token", `${h}.${p}.`, `${h}.${p}.${altered}`, `${h}.${btoa('{"seq":"x"}').replace(/=+$/, "")}.${s}`]) {
      await expectRefused(seq, () => tokenRequest(exchangeForm(subject)), 400, "invalid_request", "TOKEN_INVALID");
    }
  });

  it("the target: invalid_target for a tool the stage does not grant, an unknown or malformed resource, none, or two", async () => {
    const { seq, capability } = await start("deployment");
    const form = exchangeForm(capability);
    await expectRefused(seq, () => tokenRequest({ ...form, audience: "db" }), 400, "invalid_target", "AUDIENCE_MISMATCH");
    await expectRefused(seq, () => tokenRequest({ ...form, audience: [], resource: "https://unknown.example/mcp" }), 400, "invalid_target", "AUDIENCE_MISMATCH");
    await expectRefused(seq, () => tokenRequest({ ...form, audience: [], resource: "http://localhost:3001/mcp#x" }), 400, "invalid_target", "AUDIENCE_MISMATCH");
    await expectRefused(seq, () => tokenRequest({ ...form, audience: [], resource: "not a uri" }), 400, "invalid_target", "AUDIENCE_MISMATCH");
    await expectRefused(seq, () => tokenRequest({ ...form, audience: [] }), 400, "invalid_target", "AUDIENCE_MISMATCH");
    await expectRefused(seq, () => tokenRequest({ ...form, audience: ["deployer", "db"] }), 400, "invalid_target", "AUDIENCE_MISMATCH");
    await expectRefused(seq, () => tokenRequest({ ...form, resource: "http://localhost:3001/mcp" }), 400, "invalid_target", "AUDIENCE_MISMATCH");
    // A scope beyond the tool's actions in this stage.
    await expectRefused(seq, () => tokenRequest({ ...form, scope: "deploy.canary deploy.rollout" }), 400, "invalid_scope", "SCOPE_EXCEEDED");
  });

  it("policy: another stage's capability and a sealed sequence are invalid_request, with the gate's codes", async () => {
    const { seq, capability } = await start("deployment");
    const attestation = await attest({ seq, stage: "canary", type: "canary_passed", facts: { ...PARAMS.deployment, error_rate: 0.001 } });
    const advanced = await submitEvidence(seq, attestation);
    expect(advanced.body.stage).toBe("rollout");
    const stale = await expectRefused(seq, () => tokenRequest(exchangeForm(capability)), 400, "invalid_request", "SEQUENCE_VIOLATION");
    expect(stale.body.error_description).toMatch(/stage canary; the current stage is rollout/);
    // The current one works, then the orchestrator revokes: sealed.
    expect((await tokenRequest(exchangeForm(advanced.body.capability))).status).toBe(200);
    expect((await api("POST", `/v1/sequences/${seq}/revoke`, { key: KEY.orchestrator })).status).toBe(200);
    await expectRefused(seq, () => tokenRequest(exchangeForm(advanced.body.capability)), 400, "invalid_request", "SEALED_SEQUENCE");
  });

  it("not a token request at all: oversize, another method, another path, the authorization endpoint, all in OAuth's words", async () => {
    const { seq, capability } = await start("deployment");
    const big = await expectRefused(seq, () => tokenRequest(exchangeForm(capability, { pad: "x".repeat(70 * 1024) })), 413, "invalid_request", "PAYLOAD_TOO_LARGE");
    expect(big.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    const get = await api("GET", "/oauth/token");
    expect([get.status, get.body.error, get.body.baton_code, get.headers.get("allow")]).toEqual([405, "invalid_request", "METHOD_NOT_ALLOWED", "POST"]);
    const nowhere = await api("POST", "/oauth/nope");
    expect([nowhere.status, nowhere.body.error, nowhere.body.baton_code]).toEqual([404, "invalid_request", "NOT_FOUND"]);
    for (const method of ["GET", "POST"]) {
      const authorize = await api(method, "/oauth/authorize?response_type=code&client_id=agent-7&redirect_uri=https://evil.example/cb");
      expect([authorize.status, authorize.body.error, authorize.headers.get("location")]).toEqual([400, "unsupported_response_type", null]);
    }
  });
});

describe("POST /oauth/token with DPoP (RFC 9449 §5), for a sender-constrained workflow", () => {
  async function startBound() {
    const { privateKey, publicKey } = await generateKeyPair("EdDSA", { extractable: true });
    const key = { privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid: "agent-7-key", alg: "EdDSA" } };
    const started = await start("incident-response", { body: { actor_jwk: key.publicJwk } });
    return { ...started, key };
  }
  type Key = Awaited<ReturnType<typeof startBound>>["key"];

  /** A token-endpoint proof: no `ath` unless asked (createDpopProof always sets one, so it is removed by re-signing). */
  async function proof(key: Key, overrides: { htu?: string; htm?: string; iat?: number; ath?: string } = {}) {
    const { SignJWT } = await import("jose");
    const { kty, crv, x } = key.publicJwk;
    return new SignJWT({
      htm: overrides.htm ?? "POST",
      htu: overrides.htu ?? ENDPOINT,
      iat: overrides.iat ?? Math.floor(Date.now() / 1000),
      jti: crypto.randomUUID(),
      ...(overrides.ath ? { ath: overrides.ath } : {}),
    })
      .setProtectedHeader({ alg: "EdDSA", typ: "dpop+jwt", jwk: { kty, crv, x } })
      .sign(key.privateKey);
  }
  const form = (capability: string) => exchangeForm(capability, { audience: "observability" });

  it("a fresh proof of the bound key → a DPoP-bound capability, which the tool redeems with its own proof", async () => {
    const { capability, key } = await startBound();
    const result = await tokenRequest(form(capability), { headers: { dpop: await proof(key) } });
    expect(result.status, JSON.stringify(result.body)).toBe(200);
    expect(result.body.token_type).toBe("DPoP");
    expect(decodeJwt(result.body.access_token).cnf).toEqual(decodeJwt(capability).cnf);
    // With the subject token's hash as ath, too.
    const { sha256 } = await import("../src/tokens/digest.js");
    const withAth = await tokenRequest(form(capability), { headers: { dpop: await proof(key, { ath: await sha256(capability) }) } });
    expect(withAth.status, JSON.stringify(withAth.body)).toBe(200);

    const toolUrl = "https://observability.example/v1/logs";
    const resourceProof = await createDpopProof(key.privateKey, key.publicJwk, { htm: "POST", htu: toolUrl, accessToken: result.body.access_token, iat: Math.floor(Date.now() / 1000) });
    const redeemed = await api("POST", "/v1/redeem", {
      key: KEY.observability,
      body: { token: result.body.access_token, action: "logs.read", args: { service: PARAMS["incident-response"].service }, dpop: { proof: resourceProof, htm: "POST", htu: toolUrl } },
    });
    expect(redeemed.body.decision, JSON.stringify(redeemed.body)).toBe("ALLOW");
  });

  it("no proof, a thief's key, another URL or method, an old proof, another token's ath, junk: invalid_dpop_proof", async () => {
    const { seq, capability, key } = await startBound();
    const thief = (await startBound()).key;
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, string | undefined][] = [
      ["none", undefined],
      ["thief", await proof(thief)],
      ["url", await proof(key, { htu: "https://baton.test/v1/redeem" })],
      ["method", await proof(key, { htm: "GET" })],
      ["old", await proof(key, { iat: now - 600 })],
      ["future", await proof(key, { iat: now + 600 })],
      ["ath", await proof(key, { ath: "A".repeat(43) })],
      ["junk", "not.a.proof"],
    ];
    for (const [name, dpop] of cases) {
      const result = await expectRefused(seq, () => tokenRequest(form(capability), { headers: dpop ? { dpop } : {} }), 400, "invalid_dpop_proof", "TOKEN_INVALID");
      expect(result.body.error_description, name).toMatch(/DPoP|proof/);
    }
  });

  it("a replayed token-endpoint proof gets the very same bound token, nothing more (which is why it is not one-time)", async () => {
    const { seq, capability, key } = await startBound();
    const once = await proof(key);
    const first = await tokenRequest(form(capability), { headers: { dpop: once } });
    const before = [await ledgerState(seq), (await receipts(seq)).length];
    const replayed = await tokenRequest(form(capability), { headers: { dpop: once } });
    expect(replayed.body.access_token).toBe(first.body.access_token);
    expect([await ledgerState(seq), (await receipts(seq)).length]).toEqual(before);
  });
});

describe("GET /.well-known/oauth-authorization-server (RFC 8414)", () => {
  it("names the issuer, the token endpoint, the exchange, Basic client authentication, the DPoP algorithms and the token type", async () => {
    const { status, body, headers } = await api("GET", "/.well-known/oauth-authorization-server");
    expect(status).toBe(200);
    expect(body).toMatchObject({
      issuer: "https://baton.test",
      token_endpoint: "https://baton.test/oauth/token",
      authorization_endpoint: "https://baton.test/oauth/authorize",
      jwks_uri: "https://baton.test/.well-known/jwks.json",
      response_types_supported: [],
      grant_types_supported: [EXCHANGE],
      token_endpoint_auth_methods_supported: ["client_secret_basic"],
      dpop_signing_alg_values_supported: ["EdDSA", "Ed25519", "ES256"],
      baton_subject_token_types_supported: expect.arrayContaining([CAPABILITY]),
    });
    expect(headers.get("cache-control")).toBe("public, max-age=300");
    // The issuer has no path: no path-inserted variant exists.
    expect((await api("GET", "/.well-known/oauth-authorization-server/tenant")).status).toBe(404);
    const baton = await api("GET", "/.well-known/baton-configuration");
    expect(baton.body).toMatchObject({ token_endpoint: "https://baton.test/oauth/token", oauth_metadata_uri: "https://baton.test/.well-known/oauth-authorization-server" });
  });

  it("the OpenAPI document lists the three endpoints, the token endpoint with its form and Basic client authentication", async () => {
    const { body } = await api("GET", "/openapi.json");
    expect(Object.keys(body.paths)).toEqual(expect.arrayContaining(["/oauth/token", "/oauth/authorize", "/.well-known/oauth-authorization-server"]));
    const token = body.paths["/oauth/token"].post;
    expect(token.security).toEqual([{ client_secret_basic: [] }]);
    expect(token.requestBody.content["application/x-www-form-urlencoded"].schema).toBeTruthy();
    expect(body.components.securitySchemes.client_secret_basic).toMatchObject({ type: "http", scheme: "basic" });
  });
});
