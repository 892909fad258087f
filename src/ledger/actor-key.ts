import { calculateJwkThumbprint, importJWK } from "jose";
import { PublicJwkSchema } from "../config/schema.js";
import { BatonError } from "../errors.js";

/** RFC 7638 thumbprint of the actor's public key; a private or unusable key is refused. */
export async function actorThumbprint(raw: unknown): Promise<string> {
  const parsed = PublicJwkSchema.safeParse(raw);
  if (!parsed.success) {
    throw new BatonError("INVALID_REQUEST", "actor_jwk must be a public Ed25519 or P-256 JWK with kid and alg", {
      details: parsed.error.issues,
    });
  }
  try {
    await importJWK(parsed.data, parsed.data.alg);
  } catch (error) {
    throw new BatonError("INVALID_REQUEST", `actor_jwk is unusable: ${(error as Error).message}`);
  }
  return calculateJwkThumbprint(parsed.data, "sha256");
}
