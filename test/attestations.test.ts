import { SignJWT, base64url } from "jose";
import { describe, expect, it } from "vitest";
import { KEY, PARAMS, attest, claimsOf, ledgerState, publicJwkOf, receipts, start, submitEvidence } from "./helpers.js";

/** Attacks on the evidence path: each refused with its code, and nothing changes but a DENY receipt. */
const facts = { ...PARAMS.deployment, error_rate: 0.001 };

async function refused(seq: string, attestation: string, code: string) {
  const before = await ledgerState(seq);
  const result = await submitEvidence(seq, attestation);
  expect(result.body.error?.code, JSON.stringify(result.body)).toBe(code);
  expect(await ledgerState(seq)).toEqual(before);
  const last = claimsOf((await receipts(seq)).at(-1) as string);
  expect([last.kind, last.decision, last.code]).toEqual(["evidence", "DENY", code]);
  return result;
}

function unsigned(header: Record<string, unknown>, claims: Record<string, unknown>, signature = ""): string {
  const enc = (v: unknown) => base64url.encode(JSON.stringify(v));
  return `${enc(header)}.${enc(claims)}.${signature}`;
}

describe("attestations that must not open a gate", () => {
  it("another sequence's attestation", async () => {
    const a = await start("deployment");
    const b = await start("deployment");
    const forA = await attest({ seq: a.seq, stage: "canary", type: "canary_passed", facts });
    await refused(b.seq, forA, "EVIDENCE_INVALID");
    // …and it still works where it belongs.
    expect((await submitEvidence(a.seq, forA)).status).toBe(200);
  });

  it("signed by a key Baton does not know, even with a known kid", async () => {
    const { seq } = await start("deployment");
    const { generateKeyPair } = await import("jose");
    const { privateKey } = await generateKeyPair("EdDSA");
    const foreign = await new SignJWT({ iss: "monitor", seq, stage: "canary", type: "canary_passed", facts, jti: crypto.randomUUID() })
      .setProtectedHeader({ alg: "EdDSA", typ: "baton-attestation+jwt", kid: publicJwkOf("monitor").kid })
      .setIssuedAt()
      .sign(privateKey);
    await refused(seq, foreign, "EVIDENCE_INVALID");
    const unknownKid = await attest({ seq, stage: "canary", type: "canary_passed", facts, header: { kid: "nobody-1" } });
    await refused(seq, unknownKid, "EVIDENCE_INVALID");
  });

  it("alg none (any spelling)", async () => {
    const { seq } = await start("deployment");
    const claims = { iss: "monitor", seq, stage: "canary", type: "canary_passed", facts, iat: Math.floor(Date.now() / 1000), jti: crypto.randomUUID() };
    for (const alg of ["none", "None", "NONE"]) {
      await refusedUnsigned(seq, unsigned({ alg, typ: "baton-attestation+jwt", kid: publicJwkOf("monitor").kid }, claims));
      await refused(seq, unsigned({ alg, typ: "baton-attestation+jwt", kid: publicJwkOf("monitor").kid }, claims, "c2ln"), "EVIDENCE_INVALID");
    }
  });

  it("HS256 signed with the attester's public key as the HMAC secret", async () => {
    const { seq } = await start("deployment");
    const jwk = publicJwkOf("monitor");
    for (const secret of [base64url.decode(jwk.x), new TextEncoder().encode(JSON.stringify(jwk))]) {
      const confused = await new SignJWT({ iss: "monitor", seq, stage: "canary", type: "canary_passed", facts, jti: crypto.randomUUID() })
        .setProtectedHeader({ alg: "HS256", typ: "baton-attestation+jwt", kid: jwk.kid })
        .setIssuedAt()
        .sign(secret);
      await refused(seq, confused, "EVIDENCE_INVALID");
    }
  });

  it("the wrong typ, including a capability presented as evidence", async () => {
    const { seq, capability } = await start("deployment");
    await refused(seq, await attest({ seq, stage: "canary", type: "canary_passed", facts, header: { typ: "JWT" } }), "EVIDENCE_INVALID");
    await refused(seq, await attest({ seq, stage: "canary", type: "canary_passed", facts, header: { typ: "baton-receipt+jwt" } }), "EVIDENCE_INVALID");
    await refused(seq, capability, "EVIDENCE_INVALID");
  });

  it("an embedded jwk header is never honoured", async () => {
    const { seq } = await start("deployment");
    const jwk = publicJwkOf("monitor");
    await refused(seq, await attest({ seq, stage: "canary", type: "canary_passed", facts, header: { jwk } }), "EVIDENCE_INVALID");
  });

  it("an attester claiming to be another attester", async () => {
    const { seq } = await start("deployment");
    // The ci key signs, the body says monitor: identity comes from the key only.
    const impersonation = await attest({ attester: "ci", seq, stage: "canary", type: "canary_passed", facts, claims: { iss: "monitor" } });
    await refused(seq, impersonation, "EVIDENCE_INVALID");
  });

  it("expired (exp passed) and issued too long ago", async () => {
    const { seq } = await start("deployment");
    const now = Math.floor(Date.now() / 1000);
    await refused(seq, await attest({ seq, stage: "canary", type: "canary_passed", facts, claims: { exp: now - 60 } }), "EVIDENCE_STALE");
    await refused(seq, await attest({ seq, stage: "canary", type: "canary_passed", facts, iat: now - 901 - 5 }), "EVIDENCE_STALE");
    await refused(seq, await attest({ seq, stage: "canary", type: "canary_passed", facts, iat: now + 120 }), "EVIDENCE_STALE");
  });

  it("replayed after it opened the gate", async () => {
    const { seq } = await start("two-keys");
    const reviewed = await attest({ seq, stage: "prepare", type: "plan_reviewed", facts: { risk: 2 } });
    expect((await submitEvidence(seq, reviewed)).status).toBe(200);
    await refused(seq, reviewed, "REPLAY_NONCE");
    const tests = await attest({ attester: "ci", seq, stage: "prepare", type: "tests_passed", facts: { failed: 0 } });
    const opened = await submitEvidence(seq, tests);
    expect(opened.body.stage).toBe("apply");
    // The same jti under a fresh signature is still the same attestation.
    const { decodeJwt } = await import("jose");
    const again = await attest({ seq, stage: "apply", type: "plan_reviewed", facts: { risk: 2 }, jti: decodeJwt(reviewed).jti as string });
    await refused(seq, again, "REPLAY_NONCE");
  });

  it("a stage that is not current", async () => {
    const { seq } = await start("deployment");
    await refused(seq, await attest({ seq, stage: "rollout", type: "canary_passed", facts }), "SEQUENCE_VIOLATION");
  });

  it("non-canonical base64url spelling of a valid attestation", async () => {
    const { seq } = await start("deployment");
    const token = await attest({ seq, stage: "canary", type: "canary_passed", facts });
    const [h, p, s] = token.split(".") as [string, string, string];
    // An Ed25519 signature is 64 bytes: its last base64url char carries 4 unused bits.
    const last = s.at(-1) as string;
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const twin = alphabet[(alphabet.indexOf(last) & ~0b1111) | ((alphabet.indexOf(last) + 1) & 0b1111)] as string;
    expect(base64url.decode(`${s.slice(0, -1)}${twin}`)).toEqual(base64url.decode(s));
    await refused(seq, `${h}.${p}.${s.slice(0, -1)}${twin}`, "EVIDENCE_INVALID");
  });

  it("a gate with two requirements waits for both, then opens", async () => {
    const { seq } = await start("two-keys");
    const first = await submitEvidence(seq, await attest({ seq, stage: "prepare", type: "plan_reviewed", facts: { risk: 1 } }), KEY.attester);
    expect(first.status).toBe(200);
    expect(first.body.capability).toBeUndefined();
    expect(first.body.details.pending).toEqual([{ issuer: "ci", type: "tests_passed" }]);
    const second = await submitEvidence(seq, await attest({ attester: "ci", seq, stage: "prepare", type: "tests_passed", facts: { failed: 0 } }));
    expect(second.body.stage).toBe("apply");
    expect(typeof second.body.capability).toBe("string");
  });
});

/**
 * An unsigned token (empty signature part) has the shape of a compact JWS and fails
 * verification: evidence that does not verify (issue 15), refused by the signature
 * check, receipted with exactly one new DENY, and nothing else changes.
 */
async function refusedUnsigned(seq: string, token: string) {
  const before = await ledgerState(seq);
  const chain = await receipts(seq);
  const result = await submitEvidence(seq, token);
  expect([result.status, result.body.error?.code], JSON.stringify(result.body)).toEqual([403, "EVIDENCE_INVALID"]);
  expect(result.body.error?.message).toMatch(/unsigned/);
  expect(await ledgerState(seq)).toEqual(before);
  const after = await receipts(seq);
  expect(after.slice(0, chain.length)).toEqual(chain);
  expect(after).toHaveLength(chain.length + 1);
  expect(result.body.error?.receipt).toBe(after.at(-1));
  const last = claimsOf(after.at(-1) as string);
  expect([last.kind, last.decision, last.code]).toEqual(["evidence", "DENY", "EVIDENCE_INVALID"]);
}
