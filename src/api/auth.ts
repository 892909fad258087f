import { createMiddleware } from "hono/factory";
import type { Client } from "../config/schema.js";
import { BatonError } from "../errors.js";
import type { Caller } from "../ledger/protocol.js";
import type { AppEnv } from "./context.js";

const encoder = new TextEncoder();

/**
 * Authenticates `Authorization: Bearer <api key>` (the scheme is case-insensitive,
 * RFC 9110 §11.1) against the configured clients.
 * Only SHA-256 digests are stored; every digest is compared in constant time and
 * the loop never exits early, so timing says nothing about which client matched.
 */
export async function authenticate(header: string | undefined, clients: readonly Client[]): Promise<Caller | null> {
  const match = /^Bearer (.*)$/i.exec(header ?? "");
  return match?.[1] === undefined ? null : authenticateKey(match[1], clients);
}

/**
 * The client an API key belongs to, however it was presented (a bearer credential here, the
 * password of HTTP Basic at the OAuth token endpoint): printable ASCII, at most 512 characters.
 */
export async function authenticateKey(key: string, clients: readonly Client[]): Promise<Caller | null> {
  if (!/^[\x21-\x7e]{1,512}$/.test(key)) return null;
  const presented = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(key)));
  let found: Client | null = null;
  for (const [client, stored] of storedDigests(clients)) {
    if (crypto.subtle.timingSafeEqual(presented, stored) && !found) found = client;
  }
  return found && { id: found.id, role: found.role };
}

/**
 * Middleware factory: requires a valid credential, and one of `roles` when given
 * (`tool:*` matches any tool). Puts the caller on the context.
 */
export function requireCaller(...roles: string[]) {
  return createMiddleware<AppEnv>(async function requireCallerMiddleware(c, next) {
    const caller = await authenticate(c.req.header("authorization"), c.get("config").clients);
    if (!caller) throw new BatonError("UNAUTHENTICATED", "a valid API key is required (Authorization: Bearer <key>)");
    if (roles.length > 0 && !roles.some((role) => roleMatches(role, caller.role))) {
      throw new BatonError("FORBIDDEN", `role ${caller.role} may not call this endpoint`);
    }
    c.set("caller", caller);
    await next();
  });
}

function roleMatches(pattern: string, role: string): boolean {
  return pattern === "tool:*" ? role.startsWith("tool:") : pattern === role;
}

/** The clients' digests as bytes, decoded once per configuration (it is loaded once per isolate), not per request. */
const digestsByClients = new WeakMap<readonly Client[], [Client, Uint8Array][]>();

function storedDigests(clients: readonly Client[]): [Client, Uint8Array][] {
  let digests = digestsByClients.get(clients);
  if (!digests) {
    digests = clients.map((client) => [client, hexToBytes(client.key_sha256)]);
    digestsByClients.set(clients, digests);
  }
  return digests;
}

function hexToBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}
