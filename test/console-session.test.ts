import { env, exports } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { SESSION_STORE_NAME } from "../src/api/console/session-store.js";
import { sha256 } from "../src/tokens/digest.js";
import { ORIGIN, enrolPasskey, revokePasskey } from "./helpers/passkeys.js";
import { FLAG_UP, type SoftAuthenticator } from "./helpers/soft-authenticator.js";

// The console's sessions in workerd, with a software authenticator: the sign-in challenge is
// one-time and expires, user verification is required, the session is a server-side row (so
// it ends when it expires or is signed out), and every POST needs the CSRF token and the
// console's Origin. The browser test (test/node/console-browser.test.ts) runs the same in Chromium.

async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await exports.default.fetch(`https://baton.test${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: ORIGIN, ...headers },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  let json: Record<string, any> = {};
  try {
    json = JSON.parse(text);
  } catch {
    // a page
  }
  return { status: response.status, json, cookie: response.headers.get("set-cookie") };
}

const page = (cookie: string) => exports.default.fetch("https://baton.test/console", { headers: { cookie } }).then((r) => r.text());
const store = () => env.CONSOLE_SESSIONS.get(env.CONSOLE_SESSIONS.idFromName(SESSION_STORE_NAME));

/** A sign-in assertion over the console's challenge, as PublicKeyCredential.toJSON() would carry it. */
async function assertion(authenticator: SoftAuthenticator, challenge: string, bend = {}) {
  const a = await authenticator.assert(challenge, bend);
  return {
    id: a.credential_id,
    rawId: a.credential_id,
    type: "public-key",
    response: { authenticatorData: a.authenticator_data, clientDataJSON: a.client_data_json, signature: a.signature },
    clientExtensionResults: {},
  };
}

async function signIn(authenticator: SoftAuthenticator, bend = {}) {
  const options = await post("/console/api/sign-in/options", {});
  expect(options.status).toBe(200);
  const response = await assertion(authenticator, options.json.options.challenge, bend);
  return { challenge: options.json.options.challenge as string, response, result: await post("/console/api/sign-in", { response }) };
}

const cookieOf = (setCookie: string | null) => (setCookie ?? "").split(";")[0] ?? "";
const csrfOf = (html: string) => /name="baton-csrf" content="([^"]+)"/.exec(html)?.[1] ?? "";

describe("console sessions", () => {
  it("signs in with an enrolled passkey: an HttpOnly SameSite=Strict cookie, stored only as its SHA-256", async () => {
    const authenticator = await enrolPasskey("felix");
    const { result } = await signIn(authenticator);
    expect(result.status).toBe(200);
    expect(result.json).toMatchObject({ principal: "felix", role: "approver" });
    expect(result.cookie).toMatch(/HttpOnly/);
    expect(result.cookie).toMatch(/SameSite=Strict/);
    const cookie = cookieOf(result.cookie);
    expect(await page(cookie)).toContain("Signed in as <strong>felix</strong>");
    const token = cookie.split("=")[1] as string;
    const rows = await runInDurableObject(store(), (_, state) => state.storage.sql.exec("SELECT * FROM sessions").toArray());
    expect(JSON.stringify(rows)).not.toContain(token);
    expect(rows.map((r) => r.token_sha256)).toContain(await sha256(token));
  });

  it("refuses an assertion without user verification, a replayed one, and one for a challenge it never issued", async () => {
    const authenticator = await enrolPasskey("sam");
    const presenceOnly = await signIn(authenticator, { flags: FLAG_UP });
    expect(presenceOnly.result.status).toBe(401);
    expect(presenceOnly.result.cookie).toBeNull();
    expect(presenceOnly.result.json.error.message).toMatch(/user verification/i);
    const ok = await signIn(authenticator);
    expect(ok.result.status).toBe(200);
    const replayed = await post("/console/api/sign-in", { response: ok.response });
    expect(replayed.json.error.code).toBe("TOKEN_INVALID");
    const invented = await post("/console/api/sign-in", { response: await assertion(authenticator, "B".repeat(43)) });
    expect(invented.json.error.code).toBe("TOKEN_INVALID");
  });

  it("an expired challenge or session signs no one in", async () => {
    const authenticator = await enrolPasskey("sasha");
    const options = await post("/console/api/sign-in/options", {});
    const challenge = options.json.options.challenge as string;
    await runInDurableObject(store(), (_, state) => state.storage.sql.exec("UPDATE challenges SET expires_at = 0 WHERE challenge = ?", challenge));
    const late = await post("/console/api/sign-in", { response: await assertion(authenticator, challenge) });
    expect(late.json.error.code).toBe("TOKEN_INVALID");

    const { result } = await signIn(authenticator);
    const cookie = cookieOf(result.cookie);
    const token = cookie.split("=")[1] as string;
    await runInDurableObject(store(), async (_, state) => state.storage.sql.exec("UPDATE sessions SET expires_at = 0 WHERE token_sha256 = ?", await sha256(token)));
    expect(await page(cookie)).toContain("Sign in with a passkey");
  });

  it("every POST needs the session, its CSRF token and the console's Origin; sign-out ends the session", async () => {
    const authenticator = await enrolPasskey("sol");
    const cookie = cookieOf((await signIn(authenticator)).result.cookie);
    const csrf = csrfOf(await page(cookie));
    expect(csrf).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await post("/console/api/sign-out", {}, { cookie })).status).toBe(403);
    expect((await post("/console/api/sign-out", {}, { cookie, "x-baton-csrf": "A".repeat(43) })).status).toBe(403);
    expect((await post("/console/api/sign-out", {}, { cookie, "x-baton-csrf": csrf, origin: "https://evil.example" })).status).toBe(403);
    expect((await post("/console/api/sign-out", {}, { "x-baton-csrf": csrf })).status).toBe(401);
    expect((await post("/console/api/sign-out", {}, { cookie, "x-baton-csrf": csrf })).status).toBe(200);
    expect(await page(cookie)).toContain("Sign in with a passkey");
    expect((await post("/console/api/sign-out", {}, { cookie, "x-baton-csrf": csrf })).status).toBe(401);
  });

  it("revoking the passkey ends the sessions made with it", async () => {
    const authenticator = await enrolPasskey("alice");
    const cookie = cookieOf((await signIn(authenticator)).result.cookie);
    expect(await page(cookie)).toContain("Signed in as <strong>alice</strong>");
    expect((await revokePasskey("alice", authenticator.credential.id)).status).toBe(200);
    expect(await page(cookie)).toContain("Sign in with a passkey");
  });

  it("a sign-in challenge is given only to the console's origin", async () => {
    expect((await post("/console/api/sign-in/options", {}, { origin: "https://evil.example" })).json.error.code).toBe("FORBIDDEN");
  });
});
