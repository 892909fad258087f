import { CompactSign, SignJWT, base64url, createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import { createKeyring, generateSigningKeyset } from "../../src/tokens/keys.js";
import { type VerifyJwsOptions, verifyJws } from "../../src/tokens/jws.js";
import { TYP } from "../../src/tokens/kinds.js";

describe("signing key rotation", () => {
  it("a token signed by the previous key verifies until that key is retired", async () => {
    const a = await generateSigningKeyset("baton-a");
    const b = await generateSigningKeyset("baton-b");
    const [keyA, keyB] = [a.keys[0]!, b.keys[0]!];

    // Before: A signs.
    const before = await createKeyring({ active: "baton-a", keys: [keyA] });
    const oldToken = await before.sign({ n: 1 }, TYP.receipt);

    // Rotation step 1: B added and made active; A kept (retiring), so both are published.
    const rotating = await createKeyring({ active: "baton-b", keys: [keyB, keyA] });
    const newToken = await rotating.sign({ n: 2 }, TYP.receipt);
    const jwks = createLocalJWKSet(rotating.jwks);
    await expect(jwtVerify(oldToken, jwks)).resolves.toMatchObject({ protectedHeader: { kid: "baton-a" } });
    await expect(jwtVerify(newToken, jwks)).resolves.toMatchObject({ protectedHeader: { kid: "baton-b" } });
    expect(rotating.jwks.keys.map((k) => k.kid)).toEqual(["baton-b", "baton-a"]);

    // Step 2: A retired (removed). The old token no longer verifies; the new one does.
    const after = await createKeyring({ active: "baton-b", keys: [keyB] });
    await expect(jwtVerify(oldToken, createLocalJWKSet(after.jwks))).rejects.toThrow();
    await expect(jwtVerify(newToken, createLocalJWKSet(after.jwks))).resolves.toBeDefined();
  });

  it("the JWKS never carries private parts; a keyset without the active private key is refused", async () => {
    const a = await generateSigningKeyset("baton-a");
    const ring = await createKeyring(a);
    for (const key of ring.jwks.keys) expect(key).not.toHaveProperty("d");
    const { d: _d, ...publicOnly } = a.keys[0]!;
    await expect(createKeyring({ active: "baton-a", keys: [publicOnly] })).rejects.toThrow(/active key must be present/);
    await expect(createKeyring({ active: "baton-a", keys: [a.keys[0], a.keys[0]] })).rejects.toThrow(/unique/);
  });
});

describe("strict JWS verification", async () => {
  const { privateKey, publicKey } = await generateKeyPair("EdDSA", { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const options: VerifyJwsOptions = {
    typ: TYP.attestation,
    algorithms: ["EdDSA", "ES256"],
    resolveKey: (kid) => (kid === "k1" ? { key: publicKey as CryptoKey, alg: "EdDSA" } : undefined),
  };
  const sign = (header: Record<string, unknown> = {}, payload: Record<string, unknown> = { ok: true }) =>
    new SignJWT(payload).setProtectedHeader({ alg: "EdDSA", typ: TYP.attestation, kid: "k1", ...header }).sign(privateKey);
  const enc = (value: unknown) => base64url.encode(JSON.stringify(value));
  const refusal = async (token: unknown) => {
    const result = await verifyJws(token, options);
    expect(result.ok).toBe(false);
    return result.ok ? "" : result.message;
  };

  it("accepts a well-formed token and returns its payload and kid", async () => {
    const result = await verifyJws(await sign(), options);
    expect(result).toMatchObject({ ok: true, kid: "k1", payload: { ok: true } });
  });

  it("refuses alg none in any spelling, and an unsigned token", async () => {
    for (const alg of ["none", "None", "NONE", "nOnE"]) {
      expect(await refusal(`${enc({ alg, typ: TYP.attestation, kid: "k1" })}.${enc({ ok: true })}.`)).toMatch(/unsigned/);
      expect(await refusal(`${enc({ alg, typ: TYP.attestation, kid: "k1" })}.${enc({ ok: true })}.AA`)).toMatch(/algorithm/);
    }
  });

  it("refuses HS256 made with the public key as the HMAC secret", async () => {
    const secret = new TextEncoder().encode(JSON.stringify(publicJwk));
    const forged = await new SignJWT({ ok: true }).setProtectedHeader({ alg: "HS256", typ: TYP.attestation, kid: "k1" }).sign(secret);
    expect(await refusal(forged)).toMatch(/algorithm HS256 is not accepted/);
    // Even if HS256 were allowed, the key's own algorithm decides.
    const lax = await verifyJws(forged, { ...options, algorithms: ["EdDSA", "HS256"] });
    expect(lax).toMatchObject({ ok: false, message: "key k1 is not an HS256 key" });
  });

  it("refuses wrong or missing typ, including another Baton token kind", async () => {
    expect(await refusal(await sign({ typ: "JWT" }))).toMatch(/typ must be/);
    expect(await refusal(await sign({ typ: TYP.capability }))).toMatch(/typ must be/);
    expect(await refusal(await sign({ typ: undefined }))).toMatch(/typ must be/);
  });

  it("refuses key-choosing and processing headers: jwk, jku, x5u, x5c, crit, b64", async () => {
    expect(await refusal(await sign({ jwk: publicJwk }))).toMatch(/jwk is not accepted/);
    expect(await refusal(await sign({ jku: "https://evil.example/jwks" }))).toMatch(/jku/);
    expect(await refusal(await sign({ x5u: "https://evil.example/cert" }))).toMatch(/x5u/);
    expect(await refusal(await sign({ x5c: ["AAAA"] }))).toMatch(/x5c/);
    expect(await refusal(await sign({ x5t: "AAAA" }))).toBe("header parameter x5t is not accepted");
    expect(await refusal(await sign({ "x5t#S256": "AAAA" }))).toBe("header parameter x5t#S256 is not accepted");
    // crit and b64 (RFC 7515 §4.1.11, RFC 7797): jose will not sign these as given, so sign the bytes directly.
    const signedRaw = async (header: Record<string, unknown>) => {
      const input = `${enc({ alg: "EdDSA", typ: TYP.attestation, kid: "k1", ...header })}.${enc({ ok: true })}`;
      const signature = new Uint8Array(await crypto.subtle.sign("Ed25519", privateKey as CryptoKey, new TextEncoder().encode(input)));
      return `${input}.${base64url.encode(signature)}`;
    };
    const plain = await signedRaw({});
    expect(await verifyJws(plain, options)).toMatchObject({ ok: true }); // the raw signer makes valid tokens
    expect(await refusal(await signedRaw({ crit: ["exp"], exp: 1 }))).toBe("header parameter crit is not accepted");
    expect(await refusal(await signedRaw({ b64: false }))).toBe("header parameter b64 is not accepted");
    expect(await refusal(await signedRaw({ b64: false, crit: ["b64"] }))).toBe("header parameter crit is not accepted");
  });

  it("refuses an unknown kid, a missing kid, and a foreign key behind a known kid", async () => {
    expect(await refusal(await sign({ kid: "k2" }))).toMatch(/unknown key id k2/);
    expect(await refusal(await sign({ kid: undefined }))).toMatch(/kid is missing/);
    const foreign = await generateKeyPair("EdDSA");
    const impostor = await new SignJWT({ ok: true }).setProtectedHeader({ alg: "EdDSA", typ: TYP.attestation, kid: "k1" }).sign(foreign.privateKey);
    expect(await refusal(impostor)).toBe("signature verification failed");
  });

  it("refuses JWE, JSON serialization, non-object payloads, and non-canonical base64url", async () => {
    expect(await refusal("a.b.c.d.e")).toMatch(/compact JWS/);
    expect(await refusal(JSON.stringify({ payload: "x", signatures: [] }))).toMatch(/compact JWS/);
    expect(await refusal(42)).toMatch(/not a string/);
    for (const payload of ["[1,2]", "42", "null", '"text"']) {
      const signed = await new CompactSign(new TextEncoder().encode(payload))
        .setProtectedHeader({ alg: "EdDSA", typ: TYP.attestation, kid: "k1" })
        .sign(privateKey);
      expect(await refusal(signed)).toBe("payload is not a JSON object");
    }
    const invalidUtf8 = await new CompactSign(new Uint8Array([0x7b, 0xff, 0x7d]))
      .setProtectedHeader({ alg: "EdDSA", typ: TYP.attestation, kid: "k1" })
      .sign(privateKey);
    expect(await refusal(invalidUtf8)).toBe("payload is not UTF-8 JSON");
    const token = await sign();
    const [h, p, s] = token.split(".") as [string, string, string];
    // The last base64url character of a 64-byte signature carries 4 unused bits: set one.
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const last = alphabet.indexOf(s.at(-1)!);
    const twin = `${h}.${p}.${s.slice(0, -1)}${alphabet[last | 1]}`;
    expect(await refusal(twin)).toMatch(/canonical base64url/);
  });
});
