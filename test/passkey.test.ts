import fc from "fast-check";
import { base64url } from "jose";
import { describe, expect, it } from "vitest";
import { sha256 } from "../src/tokens/digest.js";
import {
  PASSKEY_CLIENT_DATA_JSON_MAX_BYTES,
  PASSKEY_SIGNATURE_MAX_BYTES,
  type PasskeyApprovalCheck,
  type PasskeyApprovalClaims,
  type PasskeyCredential,
  type UnverifiedPasskeyApproval,
  passkeyApprovalChallenge,
  verifyPasskeyApproval,
} from "../src/tokens/passkey.js";
import chromium from "./vectors/passkey/chromium.json";
import { FLAG_UP, FLAG_UV, type SoftAssertionOptions, type SoftAuthenticator, createSoftAuthenticator } from "./helpers/soft-authenticator.js";

// Passkey approvals in workerd: assertions from a software authenticator (real ES256 keys, real
// DER signatures, authenticator data and client data as a browser makes them) verified by
// @simplewebauthn/server through verifyPasskeyApproval. Each attack bends one thing of a valid
// assertion and must be refused for that reason; the valid one beside it must pass.
const RP_ID = "baton.example.com";
const ORIGIN = "https://baton.example.com";
const NOW = 1_800_000_000;

const claims: PasskeyApprovalClaims = {
  iss: "alice",
  seq: "seq_01HZXAMPLE",
  stage: "pay",
  decision: "approve",
  digest: await sha256("the payment of invoice 42, 1200 EUR"),
  jti: "approval-1",
  iat: NOW,
  exp: NOW + 600,
};

const authenticator = await createSoftAuthenticator({ rpId: RP_ID, origin: ORIGIN });

/** A passkey approval of `signed` claims by `by`, presented with `presented` claims. */
async function approval(
  options: { signed?: PasskeyApprovalClaims; presented?: PasskeyApprovalClaims; bend?: SoftAssertionOptions; by?: SoftAuthenticator } = {},
): Promise<UnverifiedPasskeyApproval> {
  const signed = options.signed ?? claims;
  const assertion = await (options.by ?? authenticator).assert(await passkeyApprovalChallenge(signed), options.bend);
  return { claims: options.presented ?? signed, ...assertion };
}

function verify(form: unknown, credential: PasskeyCredential = authenticator.credential, origin: string | string[] = ORIGIN, rpId = RP_ID) {
  return verifyPasskeyApproval(form, { credential, expectedOrigin: origin, expectedRpId: rpId });
}

function expectRefused(result: PasskeyApprovalCheck, reason: RegExp) {
  expect(result.ok).toBe(false);
  if (!result.ok) expect(result.message).toMatch(reason);
}

/** Flips bits of one byte of a base64url field, at `index` (negative: from the end). */
function flipByte(field: string, index: number, mask = 0x01): string {
  const bytes = base64url.decode(field);
  const at = index < 0 ? bytes.length + index : index;
  bytes[at] = (bytes[at] as number) ^ mask;
  return base64url.encode(bytes);
}

describe("a passkey approval verifies", () => {
  it("in workerd (the ledger's runtime; Node is test/node/passkey-browser.test.ts)", () => {
    expect(navigator.userAgent).toBe("Cloudflare-Workers");
  });

  it("a valid assertion over the claims: the claims and the authenticator's counter come back", async () => {
    const form = await approval();
    const result = await verify(form);
    expect(result).toEqual({ ok: true, claims, newCounter: base64url.decode(form.authenticator_data)[36] });
    expect(result.ok && result.newCounter).toBeGreaterThan(0);
  });

  it("a rejection is signed the same way", async () => {
    const reject = { ...claims, decision: "reject" as const, jti: "approval-2", comment: "not this quarter" };
    expect(await verify(await approval({ signed: reject }))).toMatchObject({ ok: true, claims: reject });
  });

  it("the challenge is base64url(SHA-256(RFC 8785 JSON of the claims))", async () => {
    // Written out without the helpers: what the console's page must compute in the browser.
    const sorted = Object.fromEntries(Object.entries(claims).sort(([a], [b]) => (a < b ? -1 : 1)));
    const bytes = new TextEncoder().encode(JSON.stringify(sorted));
    const expected = base64url.encode(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
    expect(await passkeyApprovalChallenge(claims)).toBe(expected);
    // Member order does not change it; any value does.
    const reordered = Object.fromEntries(Object.entries(claims).reverse()) as PasskeyApprovalClaims;
    expect(await passkeyApprovalChallenge(reordered)).toBe(expected);
    expect(await passkeyApprovalChallenge({ ...claims, iat: NOW + 1 })).not.toBe(expected);
  });

  it("one of several expected origins", async () => {
    const form = await approval();
    expect((await verify(form, authenticator.credential, ["https://other.example", ORIGIN])).ok).toBe(true);
    expectRefused(await verify(await approval(), authenticator.credential, ["https://other.example"]), /origin/);
  });
});

describe("an assertion made for other claims is refused", () => {
  const other: [string, PasskeyApprovalClaims][] = [
    ["another digest (something else was approved)", { ...claims, digest: "A".repeat(43) }],
    ["another stage", { ...claims, stage: "ship" }],
    ["another sequence", { ...claims, seq: "seq_01HOTHER" }],
    ["a rejection turned into an approval", { ...claims, decision: "reject" }],
    ["another approver", { ...claims, iss: "mallory" }],
    ["another jti (a second approval from one assertion)", { ...claims, jti: "approval-9" }],
    ["a later expiry", { ...claims, exp: NOW + 86_400 }],
    ["an added comment", { ...claims, comment: "approved by phone" }],
  ];
  it.each(other)("%s", async (_, presented) => {
    const form = await approval({ presented });
    expectRefused(await verify(form), /challenge/);
    // The same assertion with the claims it was made for verifies.
    expect((await verify({ ...form, claims })).ok).toBe(true);
  });
});

describe("the ceremony's context is checked", () => {
  it("made on another origin (a phishing site)", async () => {
    expectRefused(await verify(await approval({ bend: { origin: "https://baton.example.com.evil.example" } })), /origin/);
  });

  it("for another RP ID", async () => {
    expectRefused(await verify(await approval({ bend: { rpId: "evil.example" } })), /RP ID/);
    // The same assertion is good for the RP ID it names: only the hash differs.
    expect((await verify(await approval({ bend: { rpId: "evil.example" } }), authenticator.credential, ORIGIN, "evil.example")).ok).toBe(true);
  });

  it("without user verification (UP only)", async () => {
    expectRefused(await verify(await approval({ bend: { flags: FLAG_UP } })), /verification required/);
  });

  it("without user presence (UV only)", async () => {
    expectRefused(await verify(await approval({ bend: { flags: FLAG_UV } })), /not present/);
  });

  it("inside a cross-origin frame", async () => {
    expectRefused(await verify(await approval({ bend: { crossOrigin: true } })), /cross-origin/);
  });

  it("a registration's client data (webauthn.create)", async () => {
    expectRefused(await verify(await approval({ bend: { type: "webauthn.create" } })), /type/);
  });

  it("client data that repeats the challenge member", async () => {
    const challenge = await passkeyApprovalChallenge(claims);
    const text = `{"type":"webauthn.get","challenge":"${"A".repeat(43)}","origin":"${ORIGIN}","challenge":"${challenge}"}`;
    expectRefused(await verify(await approval({ bend: { clientDataJSON: text } })), /repeats a member/);
  });

  it("client data that is not a JSON object", async () => {
    expectRefused(await verify(await approval({ bend: { clientDataJSON: "not json" } })), /not JSON/);
    expectRefused(await verify(await approval({ bend: { clientDataJSON: "[1]" } })), /not a JSON object/);
  });
});

describe("the signature binds the bytes and the credential", () => {
  it("a tampered signature", async () => {
    const form = await approval();
    // Byte 10 is inside r; the last byte is the end of s.
    for (const index of [10, -1]) expectRefused(await verify({ ...form, signature: flipByte(form.signature, index) }), /signature/);
    expect((await verify(form)).ok).toBe(true);
  });

  it("a signature that is not DER", async () => {
    const form = await approval();
    const result = await verify({ ...form, signature: base64url.encode(new Uint8Array(64).fill(7)) });
    expect(result.ok).toBe(false);
  });

  it("tampered authenticator data: the counter raised, the backup flag set", async () => {
    const form = await approval();
    expectRefused(await verify({ ...form, authenticator_data: flipByte(form.authenticator_data, 35, 0x10) }), /signature/);
    expectRefused(await verify({ ...form, authenticator_data: flipByte(form.authenticator_data, 32, 0x08) }), /signature/);
    expect((await verify(form)).ok).toBe(true);
  });

  it("tampered client data (a member added after signing)", async () => {
    const form = await approval();
    const text = new TextDecoder().decode(base64url.decode(form.client_data_json)).replace('"crossOrigin":false', '"crossOrigin":false,"x":1');
    expectRefused(await verify({ ...form, client_data_json: base64url.encode(text) }), /signature/);
  });

  it("an assertion by another authenticator", async () => {
    const other = await createSoftAuthenticator({ rpId: RP_ID, origin: ORIGIN });
    const form = await approval({ by: other });
    expectRefused(await verify(form), /another credential/);
    // Renamed to the registered credential, its signature does not verify with that key.
    expectRefused(await verify({ ...form, credential_id: authenticator.credential.id }), /signature/);
    expect((await verify(form, other.credential)).ok).toBe(true);
  });

  it("a registered key that is not a COSE key is refused, not thrown", async () => {
    const form = await approval();
    for (const publicKey of ["", "AAAA", base64url.encode(new Uint8Array(77)), "not base64url!", "A".repeat(2000)]) {
      expect((await verify(form, { ...authenticator.credential, publicKey })).ok, publicKey.slice(0, 20)).toBe(false);
    }
  });
});

describe("the signature counter", () => {
  const at = async (stored: number, reported: number) => {
    const form = await approval({ bend: { counter: reported } });
    return verify(form, { ...authenticator.credential, counter: stored });
  };

  it("a counter that does not increase is refused (a replay or a clone)", async () => {
    expectRefused(await at(5, 5), /counter/);
    expectRefused(await at(5, 4), /counter/);
    expect(await at(5, 6)).toMatchObject({ ok: true, newCounter: 6 });
  });

  it("an authenticator that counted and now reports 0 is refused", async () => {
    expectRefused(await at(5, 0), /counter/);
  });

  it("an authenticator that never counts (0 stored, 0 reported) is accepted: the jti stops replay", async () => {
    expect(await at(0, 0)).toMatchObject({ ok: true, newCounter: 0 });
  });
});

describe("malformed forms are refused by the schema, before any decoding", () => {
  const cases: [string, (form: UnverifiedPasskeyApproval) => unknown][] = [
    ["credential id in base64 (+ and /)", (f) => ({ ...f, credential_id: `${f.credential_id.slice(0, -2)}+/` })],
    ["padded signature", (f) => ({ ...f, signature: `${f.signature}==` })],
    // A 16-byte id is 22 characters: the last one carries 4 unused bits, which "B" sets.
    ["non-canonical base64url (unused bits set)", (f) => ({ ...f, credential_id: `${f.credential_id.slice(0, -1)}B` })],
    ["an impossible base64url length (4n + 1)", (f) => ({ ...f, client_data_json: f.client_data_json.padEnd(4 * Math.ceil(f.client_data_json.length / 4) + 1, "A") })],
    ["authenticator data under 37 bytes", (f) => ({ ...f, authenticator_data: base64url.encode(new Uint8Array(36)) })],
    ["oversized client data", (f) => ({ ...f, client_data_json: base64url.encode(new Uint8Array(PASSKEY_CLIENT_DATA_JSON_MAX_BYTES + 3)) })],
    ["oversized signature", (f) => ({ ...f, signature: base64url.encode(new Uint8Array(PASSKEY_SIGNATURE_MAX_BYTES + 3)) })],
    ["oversized credential id", (f) => ({ ...f, credential_id: base64url.encode(new Uint8Array(1026)) })],
    ["empty signature", (f) => ({ ...f, signature: "" })],
    ["a missing member", ({ signature: _, ...f }) => f],
    ["an extra member (user_handle)", (f) => ({ ...f, user_handle: "YWxpY2U" })],
    ["a field of another type", (f) => ({ ...f, signature: 42 })],
    ["claims with an extra member", (f) => ({ ...f, claims: { ...f.claims, amount: 1 } })],
    ["claims with a digest that is not a SHA-256", (f) => ({ ...f, claims: { ...f.claims, digest: "abc" } })],
    ["claims with an unknown decision", (f) => ({ ...f, claims: { ...f.claims, decision: "maybe" } })],
  ];
  it.each(cases)("%s", async (_, bend) => {
    const form = await approval();
    expectRefused(await verify(bend(form)), /malformed/);
    expect((await verify(form)).ok).toBe(true);
  });

  it.each([null, undefined, "a string", 42, [], {}])("not a form: %j", async (input) => {
    expectRefused(await verify(input), /malformed/);
  });
});

describe("hostile input never throws", () => {
  it("random fields of the right shape: always a refusal", async () => {
    const valid = await approval();
    const b64u = (max: number) => fc.uint8Array({ minLength: 37, maxLength: max }).map((bytes) => base64url.encode(bytes));
    await fc.assert(
      fc.asyncProperty(
        fc.record({ authenticator_data: b64u(80), client_data_json: b64u(200), signature: b64u(80) }, { requiredKeys: [] }),
        async (bent) => {
          const result = await verify({ ...valid, ...bent });
          // Only the untouched form verifies.
          expect(result.ok).toBe(Object.keys(bent).length === 0);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("assertions recorded from Chromium verify in workerd", () => {
  // test/vectors/passkey/chromium.json: what a real browser made (test/node/passkey-browser.test.ts,
  // RECORD_PASSKEY_VECTORS=1), so the three algorithms a registration may pick are checked here
  // with bytes no code of Baton's produced.
  it.each(chromium.vectors.map((vector) => [vector.algorithm, vector] as const))("%s", async (_, vector) => {
    const options = { credential: vector.credential, expectedOrigin: vector.origin, expectedRpId: vector.rpId };
    const result = await verifyPasskeyApproval(vector.approval, options);
    expect(result).toMatchObject({ ok: true, claims: vector.approval.claims });
    expect(result.ok && result.newCounter).toBeGreaterThan(vector.credential.counter);
    const otherDigest = { ...vector.approval, claims: { ...vector.approval.claims, digest: "A".repeat(43) } };
    expectRefused(await verifyPasskeyApproval(otherDigest, options), /challenge/);
    expectRefused(await verifyPasskeyApproval({ ...vector.approval, signature: flipByte(vector.approval.signature, -1) }, options), /signature/);
  });
});
