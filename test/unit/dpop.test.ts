import { CompactSign, type JWK, SignJWT, base64url, calculateJwkThumbprint, exportJWK, generateKeyPair } from "jose";
import { describe, expect, it } from "vitest";
import { TOKEN_MAX_BYTES } from "../../src/limits.js";
import { dpopProblem } from "../../src/policy/dpop-binding.js";
import { DPOP_TYP, type DpopProofClaims, accessTokenHash, checkDpopProof, createDpopProof } from "../../src/tokens/dpop.js";

const NOW = 1_800_000_000;
const SKEW = 5;
const MAX_AGE = 60;
const ACCESS_TOKEN = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhZ2VudCJ9.c2lnbmF0dXJl";
const HTU = "https://tools.example/v1/refund";
const request = { htm: "POST", htu: HTU, accessToken: ACCESS_TOKEN, iat: NOW, jti: "proof-1" };

const enc = (value: unknown) => base64url.encode(JSON.stringify(value));

describe("DPoP proof signature and shape", async () => {
  const ed = await generateKeyPair("EdDSA", { extractable: true });
  const edJwk = await exportJWK(ed.publicKey);
  const ec = await generateKeyPair("ES256", { extractable: true });
  const ecJwk = await exportJWK(ec.publicKey);
  const ath = await accessTokenHash(ACCESS_TOKEN);
  const claims: DpopProofClaims = { htm: "POST", htu: HTU, iat: NOW, jti: "proof-1", ath };

  /** An EdDSA proof with header and payload overrides (undefined removes a member). */
  const sign = (header: Record<string, unknown> = {}, payload: Record<string, unknown> = {}) =>
    new SignJWT({ ...claims, ...payload })
      .setProtectedHeader({ alg: "EdDSA", typ: DPOP_TYP, jwk: edJwk, ...header } as never)
      .sign(ed.privateKey);
  const signBytes = (bytes: Uint8Array) =>
    new CompactSign(bytes).setProtectedHeader({ alg: "EdDSA", typ: DPOP_TYP, jwk: edJwk } as never).sign(ed.privateKey);
  const refusal = async (proof: unknown) => {
    const result = await checkDpopProof(proof);
    expect(result.ok).toBe(false);
    return result.ok ? "" : result.message;
  };

  it("accepts an EdDSA proof and returns the RFC 7638 thumbprint of its key", async () => {
    const proof = await createDpopProof(ed.privateKey, edJwk, request);
    const result = await checkDpopProof(proof);
    expect(result).toEqual({ ok: true, jkt: await calculateJwkThumbprint(edJwk, "sha256"), claims });
  });

  it("accepts an ES256 proof and returns the RFC 7638 thumbprint of its key", async () => {
    const proof = await createDpopProof(ec.privateKey, ecJwk, request);
    const result = await checkDpopProof(proof);
    expect(result).toEqual({ ok: true, jkt: await calculateJwkThumbprint(ecJwk, "sha256"), claims });
  });

  it("accepts alg Ed25519 (RFC 9864's name for EdDSA over Ed25519, which oauth4webapi signs with), for an Ed25519 key only", async () => {
    const result = await checkDpopProof(await sign({ alg: "Ed25519" }));
    expect(result).toEqual({ ok: true, jkt: await calculateJwkThumbprint(edJwk, "sha256"), claims });
    const forged = await new SignJWT({ ...claims })
      .setProtectedHeader({ alg: "Ed25519", typ: DPOP_TYP, jwk: ecJwk } as never)
      .sign(ed.privateKey);
    expect(await refusal(forged)).toBe("proof jwk must be a OKP Ed25519 key for Ed25519");
    expect(await refusal(await sign({ alg: "Ed25519", jwk: { ...edJwk, alg: "EdDSA" } }))).toBe("proof jwk is for EdDSA, not Ed25519");
  });

  it("createDpopProof puts only the public members in the header and a random jti when none is given", async () => {
    const privateJwk = await exportJWK(ed.privateKey);
    const proof = await createDpopProof(ed.privateKey, { ...privateJwk, kid: "agent-1" }, { ...request, jti: undefined });
    const header = JSON.parse(new TextDecoder().decode(base64url.decode(proof.split(".")[0]!)));
    expect(header).toEqual({ alg: "EdDSA", typ: DPOP_TYP, jwk: { kty: "OKP", crv: "Ed25519", x: edJwk.x } });
    const result = await checkDpopProof(proof);
    expect(result.ok && result.claims.jti).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("refuses a wrong or missing typ", async () => {
    expect(await refusal(await sign({ typ: "JWT" }))).toBe("proof typ must be dpop+jwt");
    expect(await refusal(await sign({ typ: undefined }))).toBe("proof typ must be dpop+jwt");
    expect(await refusal(await sign({ typ: "baton-capability+jwt" }))).toBe("proof typ must be dpop+jwt");
    // typ is compared case-insensitively (RFC 7515 §4.1.9).
    expect((await checkDpopProof(await sign({ typ: "DPoP+JWT" }))).ok).toBe(true);
  });

  it("refuses alg none, unsigned or with a fake signature", async () => {
    for (const alg of ["none", "None", "NONE"]) {
      const unsigned = `${enc({ alg, typ: DPOP_TYP, jwk: edJwk })}.${enc(claims)}`;
      expect(await refusal(`${unsigned}.`)).toBe("proof is not a compact JWS");
      expect(await refusal(`${unsigned}.AA`)).toBe(`proof algorithm ${alg} is not accepted`);
    }
  });

  it("refuses HS256, even keyed with the embedded public key", async () => {
    const secret = new TextEncoder().encode(JSON.stringify(edJwk));
    const forged = await new SignJWT({ ...claims })
      .setProtectedHeader({ alg: "HS256", typ: DPOP_TYP, jwk: edJwk } as never)
      .sign(secret);
    expect(await refusal(forged)).toBe("proof algorithm HS256 is not accepted");
  });

  it("refuses a missing, non-object or private jwk header", async () => {
    expect(await refusal(await sign({ jwk: undefined }))).toBe("proof has no jwk header");
    expect(await refusal(await sign({ jwk: "key" }))).toBe("proof jwk header is not a JSON object");
    expect(await refusal(await sign({ jwk: [edJwk] }))).toBe("proof jwk header is not a JSON object");
    const privateJwk = await exportJWK(ed.privateKey);
    expect(privateJwk).toHaveProperty("d");
    expect(await refusal(await sign({ jwk: privateJwk }))).toBe("proof jwk must be a public key");
    const ecPrivate = await exportJWK(ec.privateKey);
    const ecProof = await new SignJWT({ ...claims })
      .setProtectedHeader({ alg: "ES256", typ: DPOP_TYP, jwk: ecPrivate } as never)
      .sign(ec.privateKey);
    expect(await refusal(ecProof)).toBe("proof jwk must be a public key");
    expect(await refusal(await sign({ jwk: { kty: "oct", k: "c2VjcmV0" } }))).toBe("proof jwk must be a public key");
  });

  it("refuses a jwk whose key type or curve does not match alg, or that is not a key", async () => {
    // The header says EdDSA but embeds a P-256 key, and the other way round.
    expect(await refusal(await sign({ jwk: ecJwk }))).toBe("proof jwk must be a OKP Ed25519 key for EdDSA");
    const crossed = await new SignJWT({ ...claims })
      .setProtectedHeader({ alg: "ES256", typ: DPOP_TYP, jwk: edJwk } as never)
      .sign(ec.privateKey);
    expect(await refusal(crossed)).toBe("proof jwk must be a EC P-256 key for ES256");
    const p384 = await exportJWK((await generateKeyPair("ES384", { extractable: true })).publicKey);
    const wrongCurve = await new SignJWT({ ...claims })
      .setProtectedHeader({ alg: "ES256", typ: DPOP_TYP, jwk: p384 } as never)
      .sign(ec.privateKey);
    expect(await refusal(wrongCurve)).toBe("proof jwk must be a EC P-256 key for ES256");
    expect(await refusal(await sign({ jwk: { ...edJwk, crv: "Ed448" } }))).toBe("proof jwk must be a OKP Ed25519 key for EdDSA");
    expect(await refusal(await sign({ jwk: { ...edJwk, alg: "ES256" } }))).toBe("proof jwk is for ES256, not EdDSA");
    expect(await refusal(await sign({ jwk: { kty: "OKP", crv: "Ed25519", x: "AAAA" } }))).toBe("proof jwk is not a valid public key");
    expect(await refusal(await sign({ jwk: { kty: "OKP", crv: "Ed25519" } }))).toBe("proof jwk is not a valid public key");
  });

  it("refuses a proof signed by another private key than the embedded jwk", async () => {
    const other = await generateKeyPair("EdDSA");
    const impostor = await new SignJWT({ ...claims })
      .setProtectedHeader({ alg: "EdDSA", typ: DPOP_TYP, jwk: edJwk } as never)
      .sign(other.privateKey);
    expect(await refusal(impostor)).toBe("proof signature verification failed");
    const otherEc = await generateKeyPair("ES256");
    expect(await refusal(await createDpopProof(otherEc.privateKey, ecJwk, request))).toBe("proof signature verification failed");
  });

  it("refuses key-choosing and processing headers: jku, x5u, x5c, x5t, crit, b64", async () => {
    expect(await refusal(await sign({ jku: "https://evil.example/jwks" }))).toBe("proof header parameter jku is not accepted");
    expect(await refusal(await sign({ x5u: "https://evil.example/cert" }))).toBe("proof header parameter x5u is not accepted");
    expect(await refusal(await sign({ x5c: ["AAAA"] }))).toBe("proof header parameter x5c is not accepted");
    expect(await refusal(await sign({ x5t: "AAAA" }))).toBe("proof header parameter x5t is not accepted");
    expect(await refusal(await sign({ "x5t#S256": "AAAA" }))).toBe("proof header parameter x5t#S256 is not accepted");
    const critical = await new SignJWT({ ...claims })
      .setProtectedHeader({ alg: "EdDSA", typ: DPOP_TYP, jwk: edJwk, crit: ["exp"], exp: NOW } as never)
      .sign(ed.privateKey, { crit: { exp: true } });
    expect(await refusal(critical)).toBe("proof header parameter crit is not accepted");
    expect(await refusal(await sign({ b64: true }))).toBe("proof header parameter b64 is not accepted");
  });

  it("refuses non-object and non-UTF-8 payloads", async () => {
    for (const payload of ["[1,2]", "42", "null", '"text"']) {
      expect(await refusal(await signBytes(new TextEncoder().encode(payload)))).toBe("proof payload is not a JSON object");
    }
    expect(await refusal(await signBytes(new Uint8Array([0x7b, 0xff, 0x7d])))).toBe("proof payload is not UTF-8 JSON");
    expect(await refusal(await signBytes(new TextEncoder().encode("{not json")))).toBe("proof payload is not UTF-8 JSON");
  });

  it("refuses a proof missing any required claim", async () => {
    for (const claim of ["htm", "htu", "iat", "jti", "ath"]) {
      expect(await refusal(await sign({}, { [claim]: undefined }))).toMatch(new RegExp(`^proof claim ${claim} is missing or malformed`));
    }
  });

  it("refuses malformed claims", async () => {
    const malformed: [string, unknown][] = [
      ["htm", ""],
      ["htm", "X".repeat(17)],
      ["htm", 1],
      ["htu", "/v1/refund"],
      ["htu", "ftp://tools.example/v1/refund"],
      ["htu", `https://tools.example/${"a".repeat(2048)}`],
      ["iat", 1.5],
      ["iat", -1],
      ["iat", String(NOW)],
      ["jti", ""],
      ["jti", "j".repeat(257)],
      ["ath", "short"],
      ["ath", `${ath.slice(0, 42)}=`],
      ["ath", `${ath}A`],
    ];
    for (const [claim, value] of malformed) {
      expect(await refusal(await sign({}, { [claim]: value }))).toMatch(new RegExp(`^proof claim ${claim} is missing or malformed`));
    }
  });

  it("refuses non-canonical base64url, oversized proofs, other shapes and non-strings", async () => {
    const proof = await createDpopProof(ed.privateKey, edJwk, request);
    const [h, p, s] = proof.split(".") as [string, string, string];
    // The last base64url character of a 64-byte signature carries 4 unused bits: set one.
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const last = alphabet.indexOf(s.at(-1)!);
    expect(last & 1).toBe(0);
    const twin = `${h}.${p}.${s.slice(0, -1)}${alphabet[last | 1]}`;
    expect(await refusal(twin)).toBe("proof is not canonical base64url");

    const padded = await sign({}, { pad: "x".repeat(TOKEN_MAX_BYTES) });
    expect(padded.length).toBeGreaterThan(TOKEN_MAX_BYTES);
    expect(await refusal(padded)).toBe(`proof is longer than ${TOKEN_MAX_BYTES} bytes`);
    // Extra claims are allowed and not returned.
    expect(await checkDpopProof(await sign({}, { pad: "x" }))).toMatchObject({ ok: true, claims });

    expect(await refusal(`${proof}.AA.AA`)).toBe("proof is not a compact JWS");
    expect(await refusal(`${proof}=`)).toBe("proof is not a compact JWS");
    expect(await refusal(`${enc("header")}.${p}.${s}`)).toBe("proof header is not valid base64url JSON");
    for (const value of [undefined, null, 42, { proof }, [proof], new TextEncoder().encode(proof)]) {
      expect(await refusal(value)).toBe("proof is not a string");
    }
  });

  it("computes ath as in RFC 9449 §7.1", async () => {
    expect(await accessTokenHash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU")).toBe("fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo");
  });
});

describe("DPoP proof binding and time", async () => {
  const ath = await accessTokenHash(ACCESS_TOKEN);
  const jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
  const proof = (claims: Partial<DpopProofClaims> = {}, key = jkt) => ({
    jkt: key,
    claims: { htm: "POST", htu: HTU, iat: NOW, jti: "proof-1", ath, ...claims },
  });
  const expected = { jkt, htm: "POST", htu: HTU, ath };
  const problem = (claims: Partial<DpopProofClaims> = {}, overrides: Partial<typeof expected> = {}, key = jkt) =>
    dpopProblem(proof(claims, key), { ...expected, ...overrides }, NOW, SKEW, MAX_AGE);

  it("accepts an exact match", () => {
    expect(problem()).toBeNull();
  });

  it("ignores query and fragment, and URL normalisation differences, in htu", () => {
    expect(problem({ htu: `${HTU}?id=7#top` })).toBeNull();
    expect(problem({}, { htu: `${HTU}?other=1` })).toBeNull();
    expect(problem({ htu: "HTTPS://Tools.Example:443/v1/refund" })).toBeNull();
    expect(problem({ htu: "https://tools.example/v1/x/../refund" })).toBeNull();
    expect(problem({ htu: "https://tools.example" }, { htu: "https://tools.example/" })).toBeNull();
  });

  it("refuses another path, host, port or scheme", () => {
    const message = "proof is for another URL (htu)";
    expect(problem({ htu: "https://tools.example/v1/refund/" })).toBe(message);
    expect(problem({ htu: "https://tools.example/v1/Refund" })).toBe(message);
    expect(problem({ htu: "https://tools.example/v2/refund" })).toBe(message);
    expect(problem({ htu: "https://evil.example/v1/refund" })).toBe(message);
    expect(problem({ htu: "https://tools.example:8443/v1/refund" })).toBe(message);
    expect(problem({ htu: "http://tools.example/v1/refund" })).toBe(message);
    expect(problem({}, { htu: "not a url" })).toBe(message);
    // Non-http(s) URLs all have the origin "null"; they never match each other.
    expect(problem({ htu: "data:a/v1/refund" }, { htu: "data:b/v1/refund" })).toBe(message);
  });

  it("compares htm case-sensitively", () => {
    expect(problem({ htm: "post" })).toBe("proof is for method post, not POST");
    expect(problem({ htm: "GET" })).toBe("proof is for method GET, not POST");
  });

  it("refuses a proof by another key than the capability's", () => {
    expect(problem({}, {}, "another-thumbprint")).toBe("proof is signed by another key than the capability is bound to");
  });

  it("refuses a proof made for another access token", async () => {
    expect(problem({ ath: await accessTokenHash(`${ACCESS_TOKEN}x`) })).toBe("proof is for another access token (ath)");
  });

  it("checks jkt, then ath, then htm, then htu, then iat", () => {
    const all = { ath: "x".repeat(43), htm: "GET", htu: "https://evil.example/", iat: NOW + 1000 };
    expect(problem(all, {}, "other")).toMatch(/another key/);
    expect(problem(all)).toMatch(/another access token/);
    expect(problem({ ...all, ath })).toMatch(/method GET/);
    expect(problem({ ...all, ath, htm: "POST" })).toMatch(/another URL/);
    expect(problem({ ...all, ath, htm: "POST", htu: HTU })).toMatch(/future/);
  });

  it("accepts iat within skew and age, exactly at the boundaries", () => {
    expect(problem({ iat: NOW + SKEW })).toBeNull();
    expect(problem({ iat: NOW + SKEW + 1 })).toBe("proof is issued in the future");
    expect(problem({ iat: NOW - MAX_AGE - SKEW })).toBeNull();
    expect(problem({ iat: NOW - MAX_AGE - SKEW - 1 })).toBe("proof is too old");
    expect(dpopProblem(proof({ iat: NOW + 1 }), expected, NOW, 0, MAX_AGE)).toBe("proof is issued in the future");
    expect(dpopProblem(proof({ iat: NOW - MAX_AGE - 1 }), expected, NOW, 0, MAX_AGE)).toBe("proof is too old");
  });

  it("accepts a real proof end to end", async () => {
    const { privateKey, publicKey } = await generateKeyPair("EdDSA", { extractable: true });
    const jwk: JWK = await exportJWK(publicKey);
    const checked = await checkDpopProof(await createDpopProof(privateKey, jwk, { ...request, htu: `${HTU}?q=1` }));
    if (!checked.ok) throw new Error(checked.message);
    const bound = await calculateJwkThumbprint(jwk, "sha256");
    expect(dpopProblem(checked, { ...expected, jkt: bound }, NOW + 10, SKEW, MAX_AGE)).toBeNull();
    expect(dpopProblem(checked, expected, NOW, SKEW, MAX_AGE)).toMatch(/another key/);
  });
});
