import { type OpenAPIHono, z } from "@hono/zod-openapi";
import { type AuthenticationResponseJSON, verifyAuthenticationResponse } from "@simplewebauthn/server";
import { base64url } from "jose";
import { BatonError } from "../../errors.js";
import { directoryStub } from "../../ledger/approver-protocol.js";
import { consolePrincipal } from "../../ledger/console-principals.js";
import { sha256 } from "../../tokens/digest.js";
import { isCanonicalBase64url } from "../../tokens/jws.js";
import type { AppEnv } from "../context.js";
import { STANDARD_ERRORS, documentedRoute } from "../openapi.js";
import { json } from "../respond.js";
import { assertSameOrigin, clearSessionCookie, mutatingSession, randomToken, setSessionCookie } from "./session.js";
import { CHALLENGE_TTL_MS, sessionStore } from "./session-store.js";

const B64u = (max: number) => z.string().min(1).max(max).refine(isCanonicalBase64url, "must be canonical unpadded base64url");
/** PublicKeyCredential.toJSON() of an assertion, bounded like the passkey approval form (tokens/passkey.ts). */
const AssertionSchema = z.object({
  id: B64u(1366),
  rawId: B64u(1366),
  type: z.literal("public-key"),
  response: z.object({
    authenticatorData: B64u(1366),
    clientDataJSON: B64u(2731),
    signature: B64u(683),
    userHandle: B64u(100).optional(),
  }),
  clientExtensionResults: z.record(z.string(), z.unknown()).optional(),
  authenticatorAttachment: z.string().max(32).optional(),
});

const ERRORS = { ...STANDARD_ERRORS, 415: { description: "UNSUPPORTED_MEDIA_TYPE" } };

const optionsRoute = documentedRoute({
  method: "post",
  path: "/console/api/sign-in/options",
  summary: "A one-time sign-in challenge for the console (WebAuthn request options; no API key)",
  responses: { 200: { description: "`{ options }`: pass to navigator.credentials.get() (PublicKeyCredentialRequestOptionsJSON)" }, ...ERRORS },
});

const signInRoute = documentedRoute({
  method: "post",
  path: "/console/api/sign-in",
  summary: "Sign in to the console with an enrolled passkey: sets a short-lived HttpOnly session cookie",
  request: { body: { required: true, content: { "application/json": { schema: z.object({ response: AssertionSchema }).strict() } } } },
  responses: { 200: { description: "`{ principal, expires_at }` (milliseconds since the epoch)" }, ...ERRORS },
});

const signOutRoute = documentedRoute({
  method: "post",
  path: "/console/api/sign-out",
  summary: "End the console session (CSRF token in x-baton-csrf)",
  responses: { 200: { description: "`{ signed_out: true }`" }, ...ERRORS },
});

export function registerConsoleSignIn(app: OpenAPIHono<AppEnv>): void {
  app.openapi(optionsRoute, async (c) => {
    assertSameOrigin(c);
    const challenge = randomToken();
    if (!(await sessionStore(c.env.CONSOLE_SESSIONS).issueChallenge(challenge))) {
      throw new BatonError("FORBIDDEN", "too many sign-ins in progress; try again in a minute");
    }
    const { rp_id } = c.get("config").passkeys;
    // No allowCredentials: the passkey names its credential, and the page need not name a person.
    return json({ options: { challenge, rpId: rp_id, userVerification: "required", timeout: CHALLENGE_TTL_MS } });
  });

  app.openapi(signInRoute, async (c) => {
    assertSameOrigin(c);
    const { response } = c.req.valid("json");
    const config = c.get("config");
    const challenge = clientDataChallenge(response.response.clientDataJSON);
    // Consumed before the signature is checked: a challenge serves one attempt, good or bad.
    if (!challenge || !(await sessionStore(c.env.CONSOLE_SESSIONS).consumeChallenge(challenge))) {
      throw new BatonError("TOKEN_INVALID", "the sign-in challenge is unknown, used or expired: start again");
    }
    const directory = directoryStub(c.env.APPROVERS);
    const stored = (await directory.list()).credentials.find((cred) => cred.credential_id === response.id);
    const principal = stored && consolePrincipal(config, stored.approver);
    if (!stored || !principal || stored.revoked_at !== null) {
      throw new BatonError("UNAUTHENTICATED", "this passkey is not enrolled (or was revoked)");
    }
    if (stored.rp_id !== config.passkeys.rp_id) throw new BatonError("UNAUTHENTICATED", "this passkey was enrolled for another relying party");
    let verified: Awaited<ReturnType<typeof verifyAuthenticationResponse>>;
    try {
      verified = await verifyAuthenticationResponse({
        response: { ...response, clientExtensionResults: {} } as AuthenticationResponseJSON,
        expectedChallenge: challenge,
        expectedOrigin: config.passkeys.origins,
        expectedRPID: config.passkeys.rp_id,
        expectedType: "webauthn.get",
        credential: { id: stored.credential_id, publicKey: base64url.decode(stored.public_key) as Uint8Array<ArrayBuffer>, counter: stored.counter },
        requireUserVerification: true,
      });
    } catch (error) {
      throw new BatonError("UNAUTHENTICATED", `sign-in refused: ${(error instanceof Error ? error.message : String(error)).slice(0, 200)}`);
    }
    if (!verified.verified || !verified.authenticationInfo.userVerified) throw new BatonError("UNAUTHENTICATED", "sign-in refused: the assertion does not verify");
    const { newCounter } = verified.authenticationInfo;
    if (newCounter > 0) await directory.recordCounter({ credentialId: stored.credential_id, counter: newCounter });
    const token = randomToken();
    const created = await sessionStore(c.env.CONSOLE_SESSIONS).createSession({
      tokenSha256: await sha256(token),
      principal: principal.id,
      role: principal.role,
      credentialId: stored.credential_id,
      csrf: randomToken(),
    });
    setSessionCookie(c, token);
    // c.json, not a fresh Response: it carries the Set-Cookie header set on the context.
    return c.json({ principal: principal.id, role: principal.role, expires_at: created.expires_at }, 200, { "cache-control": "no-store" });
  });

  app.openapi(signOutRoute, async (c) => {
    const session = await mutatingSession(c);
    await sessionStore(c.env.CONSOLE_SESSIONS).endSession(session.tokenSha256);
    clearSessionCookie(c);
    return c.json({ signed_out: true }, 200, { "cache-control": "no-store" });
  });
}

/** The challenge clientDataJSON carries, or null when it is not readable JSON with one. */
function clientDataChallenge(encoded: string): string | null {
  try {
    const value: unknown = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(base64url.decode(encoded)));
    const challenge = (value as { challenge?: unknown } | null)?.challenge;
    return typeof challenge === "string" ? challenge : null;
  } catch {
    return null;
  }
}
