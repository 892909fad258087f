import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { decodeJwt } from "jose";
import { describe, expect, it } from "vitest";
import { sha256 } from "../src/tokens/digest.js";
import { verifyCredentialLog } from "../src/tokens/credential-log.js";
import { KEY, jwksLookup } from "./helpers.js";
import { ORIGIN, RP_ID, completeEnrolment, credentials, enrolPasskey, enrolmentOptions, issueEnrolment, revokePasskey } from "./helpers/passkeys.js";
import { FLAG_AT, FLAG_UP, createSoftAuthenticator } from "./helpers/soft-authenticator.js";

// Enrolment of approvers' passkeys: an operator's one-time link, the creation options, the
// registration, the credentials listing with its signed log, and revocation. Each attack tries
// one misuse of a token or a registration and must leave the directory as it was.

async function issued(approver = "alice") {
  const result = await issueEnrolment(approver);
  expect(result.status).toBe(201);
  return result.body as { token: string; enrolment_url: string; expires_at: number };
}

describe("enrolment", () => {
  it("issues a one-time link for a configured approver; only the token's SHA-256 is stored", async () => {
    const link = await issued("fran");
    expect(link.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(link.enrolment_url).toBe(`${ORIGIN}/console/enrol#token=${link.token}`);
    const now = Date.now() / 1000;
    expect(link.expires_at).toBeGreaterThan(now + 14 * 60);
    expect(link.expires_at).toBeLessThanOrEqual(now + 15 * 60 + 1);
    const stub = env.APPROVERS.get(env.APPROVERS.idFromName("approvers"));
    const rows = await runInDurableObject(stub, (_, state) => state.storage.sql.exec("SELECT * FROM enrolments").toArray());
    expect(JSON.stringify(rows)).not.toContain(link.token);
    expect(rows.map((r) => r.token_sha256)).toContain(await sha256(link.token));
  });

  it("registers a passkey: options require user verification, the credential and a signed log entry are stored", async () => {
    const link = await issued("felix");
    const options = await enrolmentOptions(link.token);
    expect(options.status).toBe(200);
    expect(options.body.approver).toBe("felix");
    expect(options.body.options.rp.id).toBe(RP_ID);
    expect(options.body.options.authenticatorSelection).toMatchObject({ userVerification: "required", residentKey: "preferred" });
    const authenticator = await createSoftAuthenticator({ rpId: RP_ID, origin: ORIGIN });
    const completed = await completeEnrolment(link.token, await authenticator.register(options.body.options.challenge));
    expect(completed.status).toBe(201);
    expect(completed.body.credential).toMatchObject({ approver: "felix", credential_id: authenticator.credential.id, public_key: authenticator.credential.publicKey, revoked_at: null });
    expect(decodeJwt(completed.body.log_entry)).toMatchObject({ event: "register", approver: "felix", credential_id: authenticator.credential.id });

    const listing = await credentials();
    expect(listing.status).toBe(200);
    expect(listing.body.credentials.map((c: { credential_id: string }) => c.credential_id)).toContain(authenticator.credential.id);
    const log = await verifyCredentialLog(listing.body.log, await jwksLookup());
    expect(log.ok).toBe(true);
    if (log.ok) expect(log.credentials.get(authenticator.credential.id)?.publicKey).toBe(authenticator.credential.publicKey);
  });

  it("test_token_reuse: a second use of a token is REPLAY_NONCE and registers nothing", async () => {
    const link = await issued();
    const options = await enrolmentOptions(link.token);
    const first = await createSoftAuthenticator({ rpId: RP_ID, origin: ORIGIN });
    expect((await completeEnrolment(link.token, await first.register(options.body.options.challenge))).status).toBe(201);
    const before = (await credentials()).body;
    const second = await createSoftAuthenticator({ rpId: RP_ID, origin: ORIGIN });
    const reused = await completeEnrolment(link.token, await second.register(options.body.options.challenge));
    expect(reused.status).toBe(409);
    expect(reused.body.error.code).toBe("REPLAY_NONCE");
    expect((await enrolmentOptions(link.token)).body.error.code).toBe("REPLAY_NONCE");
    expect((await credentials()).body).toEqual(before);
  });

  it("test_expired_token: refused with TOKEN_EXPIRED", async () => {
    const link = await issued();
    const stub = env.APPROVERS.get(env.APPROVERS.idFromName("approvers"));
    const hash = await sha256(link.token);
    await runInDurableObject(stub, (_, state) => state.storage.sql.exec("UPDATE enrolments SET expires_at = ? WHERE token_sha256 = ?", Date.now() - 1, hash));
    const refused = await enrolmentOptions(link.token);
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe("TOKEN_EXPIRED");
  });

  it("test_unknown_token and test_unknown_approver: refused, nothing stored", async () => {
    const unknown = await enrolmentOptions("A".repeat(43));
    expect(unknown.body.error.code).toBe("TOKEN_INVALID");
    const stranger = await issueEnrolment("mallory");
    expect(stranger.status).toBe(404);
    expect(stranger.body.error.code).toBe("NOT_FOUND");
    expect((await enrolmentOptions("short")).body.error.code).toBe("INVALID_REQUEST");
  });

  it("an operator may choose the link's lifetime, within 60 seconds to an hour", async () => {
    const short = await issueEnrolment("alice", { ttl_seconds: 120 });
    expect(short.status).toBe(201);
    expect(short.body.expires_at).toBeLessThanOrEqual(Date.now() / 1000 + 121);
    expect((await issueEnrolment("alice", { ttl_seconds: 5 })).body.error.code).toBe("INVALID_REQUEST");
    expect((await issueEnrolment("alice", { ttl_seconds: 7200 })).body.error.code).toBe("INVALID_REQUEST");
    expect((await issueEnrolment("alice", { other: 1 })).body.error.code).toBe("INVALID_REQUEST");
  });

  it("the directory refuses a malformed call at its own boundary, and stores nothing", async () => {
    const stub = env.APPROVERS.get(env.APPROVERS.idFromName("approvers"));
    const refused = await stub.issueEnrolment({ approver: "alice", operator: "ops", tokenSha256: "short", ttlSeconds: 900 });
    expect(refused).toMatchObject({ ok: false, code: "INVALID_REQUEST" });
    expect(await stub.credential({ approver: "alice", credentialId: "" })).toMatchObject({ ok: false, code: "INVALID_REQUEST" });
  });

  it("only an operator issues links and revokes; the listing is for auditors and operators", async () => {
    for (const key of [KEY.orchestrator, KEY.auditor, KEY.approvals]) expect((await issueEnrolment("alice", undefined, key)).status).toBe(403);
    expect((await issueEnrolment("alice", undefined, "nope")).status).toBe(401);
    expect((await credentials(KEY.orchestrator)).status).toBe(403);
    expect((await credentials(KEY.operator)).status).toBe(200);
    expect((await revokePasskey("alice", "AAAA", "x", KEY.auditor)).status).toBe(403);
  });

  it("test_registration_attacks: wrong challenge, origin, RP ID, no user verification — refused, the token still usable", async () => {
    const link = await issued();
    const { body } = await enrolmentOptions(link.token);
    const authenticator = await createSoftAuthenticator({ rpId: RP_ID, origin: ORIGIN });
    const attempts = [
      await authenticator.register("B".repeat(43)),
      await authenticator.register(body.options.challenge, { origin: "https://evil.example" }),
      await authenticator.register(body.options.challenge, { rpId: "evil.example" }),
      await authenticator.register(body.options.challenge, { flags: FLAG_UP | FLAG_AT }),
      await authenticator.register(body.options.challenge, { type: "webauthn.get" }),
    ];
    for (const response of attempts) {
      const refused = await completeEnrolment(link.token, response);
      expect(refused.status).toBe(403);
      expect(refused.body.error.code).toBe("EVIDENCE_INVALID");
    }
    expect((await completeEnrolment(link.token, { id: 1 })).body.error.code).toBe("EVIDENCE_INVALID");
    expect((await completeEnrolment(link.token, await authenticator.register(body.options.challenge))).status).toBe(201);
  });

  it("revokes a credential with a signed log entry; a second revocation is refused", async () => {
    const authenticator = await enrolPasskey("sam");
    expect((await revokePasskey("sol", authenticator.credential.id)).body.error.code).toBe("NOT_FOUND");
    const revoked = await revokePasskey("sam", authenticator.credential.id, "left the team");
    expect(revoked.status).toBe(200);
    expect(revoked.body.credential.revoked_reason).toBe("left the team");
    expect(decodeJwt(revoked.body.log_entry)).toMatchObject({ event: "revoke", credential_id: authenticator.credential.id, revoked_by: "ops" });
    expect((await revokePasskey("sam", authenticator.credential.id)).status).toBe(409);
    const log = await verifyCredentialLog((await credentials()).body.log, await jwksLookup());
    expect(log.ok && log.credentials.get(authenticator.credential.id)?.revokedAt).toBeTypeOf("number");
  });
});
