import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { base64url } from "jose";
import { BatonError } from "../../errors.js";
import { directoryStub } from "../../ledger/approver-protocol.js";
import { consolePrincipal } from "../../ledger/console-principals.js";
import { sha256 } from "../../tokens/digest.js";
import type { AppEnv } from "../context.js";
import { type ConsoleSession, SESSION_TTL_MS, sessionStore } from "./session-store.js";

/** The header a console page sends its CSRF token in (synchronizer token: the session's own). */
export const CSRF_HEADER = "x-baton-csrf";
const TOKEN = /^[A-Za-z0-9_-]{43}$/;
const encoder = new TextEncoder();

/**
 * The session cookie: HttpOnly (no script reads it), SameSite=Strict (no other site's page sends
 * it), Secure and `__Host-` outside development (HTTPS only, this host only, path /). `wrangler
 * dev` serves plain http://localhost, where a Secure cookie would not be kept by every browser.
 */
function cookieName(env: Env): string {
  return secure(env) ? "__Host-baton-console" : "baton-console";
}
const secure = (env: Env) => env.BATON_ENV !== "development";

export function setSessionCookie(c: Context<AppEnv>, token: string): void {
  setCookie(c, cookieName(c.env), token, {
    httpOnly: true,
    secure: secure(c.env),
    sameSite: "Strict",
    path: "/",
    maxAge: SESSION_TTL_MS / 1000,
  });
}

export function clearSessionCookie(c: Context<AppEnv>): void {
  deleteCookie(c, cookieName(c.env), { path: "/", secure: secure(c.env) });
}

/** The session the request's cookie names, or null: no cookie, an unknown, ended or expired session. */
export async function currentSession(c: Context<AppEnv>): Promise<(ConsoleSession & { tokenSha256: string }) | null> {
  const token = getCookie(c, cookieName(c.env));
  if (!token || !TOKEN.test(token)) return null;
  const tokenSha256 = await sha256(token);
  const session = await sessionStore(c.env.CONSOLE_SESSIONS).session(tokenSha256);
  // A person removed from the configuration, or given another role, is signed out with it.
  if (!session || consolePrincipal(c.get("config"), session.principal)?.role !== session.role) return null;
  // So is a session made with a passkey revoked since (a lost phone must not stay signed in).
  const credential = await directoryStub(c.env.APPROVERS).credential({ approver: session.principal, credentialId: session.credential_id });
  if (!credential.ok) return null;
  return { ...session, tokenSha256 };
}

/**
 * The session of a state-changing console request, or a refusal: a session (401), a request
 * from one of the console's own origins (Origin is set by the browser on every POST and no page
 * can forge it), and the session's CSRF token in {@link CSRF_HEADER}, compared in constant time.
 * SameSite=Strict already keeps the cookie off cross-site requests; the token also stops a
 * same-site sibling (another app under the same registrable domain).
 */
export async function mutatingSession(c: Context<AppEnv>): Promise<ConsoleSession & { tokenSha256: string }> {
  const session = await currentSession(c);
  if (!session) throw new BatonError("UNAUTHENTICATED", "sign in to the console first (a passkey session is required)");
  assertSameOrigin(c);
  const presented = c.req.header(CSRF_HEADER) ?? "";
  if (!TOKEN.test(presented) || !timingSafeEqual(presented, session.csrf)) {
    throw new BatonError("FORBIDDEN", `a console request needs the session's CSRF token in ${CSRF_HEADER}`);
  }
  return session;
}

/** Requests that change state come from a page of the console, never from another origin. */
export function assertSameOrigin(c: Context<AppEnv>): void {
  const origin = c.req.header("origin");
  if (!origin || !c.get("config").passkeys.origins.includes(origin)) {
    throw new BatonError("FORBIDDEN", "a console request must come from the console's origin");
  }
}

function timingSafeEqual(a: string, b: string): boolean {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  return x.length === y.length && crypto.subtle.timingSafeEqual(x, y);
}

/** 256 random bits, base64url: session tokens, CSRF tokens and sign-in challenges. */
export const randomToken = (): string => base64url.encode(crypto.getRandomValues(new Uint8Array(32)));
