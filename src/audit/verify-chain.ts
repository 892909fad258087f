import { verifyJws } from "../tokens/jws.js";
import { SIGNING_ALGORITHM, TYP } from "../tokens/kinds.js";
import { type ReceiptClaims, receiptHash } from "../tokens/receipt.js";

export type KeyLookup = (kid: string) => { key: CryptoKey; alg: string } | undefined;

export type ChainVerdict =
  | { ok: true; length: number; head: { n: number; hash: string } | null; sealed: boolean; receipts: ReceiptClaims[] }
  | { ok: false; n: number; reason: string };

/**
 * Verifies a receipt chain offline: every signature by a known key, `typ`, one
 * sequence, `n` contiguous from 0 and each `prev` equal to the SHA-256 of the
 * receipt before it. Nothing after a seal. Web-standard APIs only (Workers and Node).
 */
export async function verifyReceiptChain(receipts: readonly string[], keys: KeyLookup): Promise<ChainVerdict> {
  const claims: ReceiptClaims[] = [];
  let previousHash: string | null = null;
  let seq: string | null = null;
  let sealed = false;
  for (const [index, jws] of receipts.entries()) {
    const verified = await verifyJws(jws, { typ: TYP.receipt, algorithms: [SIGNING_ALGORITHM], resolveKey: keys });
    if (!verified.ok) return { ok: false, n: index, reason: `receipt ${index}: ${verified.message}` };
    const receipt = verified.payload as unknown as ReceiptClaims;
    if (receipt.n !== index) return { ok: false, n: index, reason: `receipt ${index}: n is ${receipt.n}` };
    if (receipt.prev !== previousHash) return { ok: false, n: index, reason: `receipt ${index}: prev does not match` };
    seq ??= receipt.seq;
    if (receipt.seq !== seq) return { ok: false, n: index, reason: `receipt ${index}: another sequence` };
    if (sealed) return { ok: false, n: index, reason: `receipt ${index}: follows the seal` };
    sealed = receipt.effects.some((effect) => effect.type === "seal");
    previousHash = await receiptHash(jws);
    claims.push(receipt);
  }
  const last = claims.at(-1);
  return {
    ok: true,
    length: claims.length,
    head: last && previousHash ? { n: last.n, hash: previousHash } : null,
    sealed,
    receipts: claims,
  };
}
