import { importJWK } from "jose";
import { canonicalJson } from "../tokens/digest.js";
import type { ReceiptClaims } from "../tokens/receipt.js";
import { type VerifiedWorkloadToken, VerifiedWorkloadTokenSchema, checkWorkloadToken } from "../tokens/workload-token.js";

/** The verified workload token an evidence receipt recorded, or null when it recorded none. */
export function workloadTokenOf(receipt: ReceiptClaims): VerifiedWorkloadToken | null {
  const inputs = receipt.inputs as { kind: string; attestation?: { method?: unknown } };
  if (inputs.kind !== "evidence" || inputs.attestation?.method !== "oidc") return null;
  const parsed = VerifiedWorkloadTokenSchema.safeParse(inputs.attestation);
  return parsed.success ? parsed.data : null;
}

/**
 * Re-verifies offline a workload token an evidence receipt accepted, since the auditor
 * cannot fetch the issuer's keys as they were then: the receipt carries the token and the
 * issuer's public key that verified it. The token must verify under that key through the
 * same check the Worker ran (`iss`, the audience naming this receipt's sequence), hash to
 * the recorded digest, and carry exactly the recorded claims — the ones `decide()` and the
 * gate's CEL read in the replay. Whether the key was the issuer's is for the auditor to
 * compare with the issuer's published keys (kid and key are in the receipt). The
 * attester's required claims are configuration, not in the receipt; the gate's CEL is
 * replayed. Returns why not, or null.
 */
export async function workloadTokenProblem(receipt: ReceiptClaims): Promise<string | null> {
  const inputs = receipt.inputs as { kind: string; attestation?: { method?: unknown } };
  if (inputs.kind !== "evidence" || inputs.attestation?.method !== "oidc") return null;
  const recorded = workloadTokenOf(receipt);
  const where = `receipt ${receipt.n}: the workload token`;
  if (!recorded) return `${where} is not recorded in full (token, key, claims)`;
  if (recorded.seq !== receipt.seq) return `${where} is recorded for sequence ${recorded.seq}`;
  let key: CryptoKey;
  try {
    key = (await importJWK(recorded.jwk, recorded.alg)) as CryptoKey;
  } catch {
    return `${where}: its recorded key does not import as ${recorded.alg}`;
  }
  const issuer = { attester: recorded.attester, issuer: recorded.issuer, audience: recorded.audience, claims: {}, algorithms: [recorded.alg] };
  const again = await checkWorkloadToken(recorded.token, issuer, {
    key: async (kid) => (kid === recorded.kid ? { key, alg: recorded.alg, jwk: recorded.jwk } : undefined),
  });
  if (!again.ok) return `${where} does not verify under the recorded key of ${recorded.issuer}: ${again.message}`;
  if (again.digest !== recorded.digest) return `${where} does not hash to the recorded digest`;
  if (again.seq !== receipt.seq) return `${where} names sequence ${again.seq}`;
  if (canonicalJson(again.claims) !== canonicalJson(recorded.claims)) return `${where} carries other claims than the ones recorded (and replayed)`;
  return null;
}
