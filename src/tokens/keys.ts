import { type JWK, SignJWT, exportJWK, generateKeyPair, importJWK } from "jose";
import { z } from "zod";
import { SIGNING_ALGORITHM } from "./kinds.js";

/**
 * The signing key set, as held by the BATON_SIGNING_KEYS secret: Ed25519 JWKs
 * with key ids, and which one signs. The others are retiring: still published
 * and still verified, never used to sign.
 */
export const SigningKeysetSchema = z
  .strictObject({
    active: z.string().min(1),
    keys: z
      .array(
        z.looseObject({
          kty: z.literal("OKP"),
          crv: z.literal("Ed25519"),
          kid: z.string().min(1).max(128),
          x: z.string().min(1),
          d: z.string().min(1).optional(),
        }),
      )
      .min(1)
      .max(8),
  })
  .refine((set) => set.keys.some((k) => k.kid === set.active && k.d !== undefined), {
    message: "the active key must be present with its private part (d)",
    path: ["active"],
  })
  .refine((set) => new Set(set.keys.map((k) => k.kid)).size === set.keys.length, {
    message: "key ids must be unique",
    path: ["keys"],
  });
export type SigningKeyset = z.infer<typeof SigningKeysetSchema>;

/** Signs with the active key; verifies with any published key. */
export interface Keyring {
  sign(payload: Record<string, unknown>, typ: string): Promise<string>;
  publicKey(kid: string): { key: CryptoKey; alg: string } | undefined;
  /** RFC 7517 set of every public key: the active one and those retiring. */
  readonly jwks: { keys: JWK[] };
}

export async function createKeyring(input: unknown): Promise<Keyring> {
  const keyset = SigningKeysetSchema.parse(input);
  const publicKeys = new Map<string, { key: CryptoKey; alg: string }>();
  const published: JWK[] = [];
  let signingKey: CryptoKey | undefined;
  for (const jwk of keyset.keys) {
    const { d, ...pub } = jwk;
    const publicJwk: JWK = { kty: pub.kty, crv: pub.crv, x: pub.x, kid: pub.kid, alg: SIGNING_ALGORITHM, use: "sig" };
    publicKeys.set(jwk.kid, { key: (await importJWK(publicJwk, SIGNING_ALGORITHM)) as CryptoKey, alg: SIGNING_ALGORITHM });
    published.push(publicJwk);
    if (jwk.kid === keyset.active && d !== undefined) {
      signingKey = (await importJWK({ ...publicJwk, d }, SIGNING_ALGORITHM)) as CryptoKey;
    }
  }
  if (!signingKey) throw new Error("active signing key missing");
  const key = signingKey;
  return {
    jwks: { keys: published },
    publicKey: (kid) => publicKeys.get(kid),
    sign: (payload, typ) =>
      new SignJWT(payload).setProtectedHeader({ alg: SIGNING_ALGORITHM, typ, kid: keyset.active }).sign(key),
  };
}

/** A fresh Ed25519 key set, for development (kept in local Durable Object state) and tests. */
export async function generateSigningKeyset(kid: string): Promise<SigningKeyset> {
  const { privateKey } = await generateKeyPair(SIGNING_ALGORITHM, { extractable: true });
  const jwk = await exportJWK(privateKey);
  return SigningKeysetSchema.parse({ active: kid, keys: [{ ...jwk, kid }] });
}
