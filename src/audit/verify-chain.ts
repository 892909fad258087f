import { RECEIPT_MAX_BYTES } from "../limits.js";
import { TOKEN_MESSAGES, verifyJws } from "../tokens/jws.js";
import { SIGNING_ALGORITHM, TYP } from "../tokens/kinds.js";
import { HeadClaimsSchema, type ReceiptClaims, ReceiptClaimsSchema, receiptHash } from "../tokens/receipt.js";

/** Receipts carry their decision's inputs, so they are allowed to be longer than a presented token. */
const RECEIPT_LIMIT = { maxBytes: RECEIPT_MAX_BYTES, messages: { ...TOKEN_MESSAGES, tooLong: `receipt is longer than ${RECEIPT_MAX_BYTES} bytes` } };

export type KeyLookup = (kid: string) => { key: CryptoKey; alg: string } | undefined;

/** A receipt whose signature and hash are computed, waiting for its place in the chain. */
export interface PreparedReceipt {
  verified: Awaited<ReturnType<typeof verifyJws>>;
  hash: string;
}

export type ChainVerdict =
  | { ok: true; length: number; head: { n: number; hash: string } | null; sealed: boolean; receipts: ReceiptClaims[] }
  | { ok: false; n: number; reason: string };

/**
 * Checks a receipt chain one receipt at a time, so an export of any length is
 * checked in bounded memory: every signature by a known key (retired ones
 * included, if the key lookup has them), `typ`, one sequence, `n` contiguous from
 * 0, each `prev` equal to the SHA-256 of the receipt before it, nothing after a
 * seal. Web-standard APIs only (Workers and Node).
 */
export class ChainChecker {
  #previousHash: string | null = null;
  #seq: string | null = null;
  #sealed = false;
  #count = 0;
  #last: ReceiptClaims | null = null;

  constructor(private readonly keys: KeyLookup) {}

  /** Checks the next receipt; returns its claims, or why the chain is broken there. */
  async push(jws: string): Promise<{ ok: true; receipt: ReceiptClaims } | { ok: false; n: number; reason: string }> {
    return this.accept(await this.prepare(jws));
  }

  /**
   * The part of a receipt's check that needs no other receipt — its signature and its
   * hash — so that a reader can prepare the next receipts while it accepts this one
   * (the signature checks then overlap; the chain is still accepted in order).
   */
  async prepare(jws: string): Promise<PreparedReceipt> {
    const line = jws.trim();
    const [verified, hash] = await Promise.all([
      verifyJws(line, { typ: TYP.receipt, algorithms: [SIGNING_ALGORITHM], resolveKey: this.keys, ...RECEIPT_LIMIT }),
      receiptHash(line),
    ]);
    return { verified, hash };
  }

  /** Links the next prepared receipt into the chain: n, prev, one sequence, nothing after the seal. */
  accept({ verified, hash }: PreparedReceipt): { ok: true; receipt: ReceiptClaims } | { ok: false; n: number; reason: string } {
    const index = this.#count;
    if (!verified.ok) return { ok: false, n: index, reason: `receipt ${index}: ${verified.message}` };
    const parsed = ReceiptClaimsSchema.safeParse(verified.payload);
    if (!parsed.success) return { ok: false, n: index, reason: `receipt ${index}: its claims are not a receipt's (${parsed.error.issues[0]?.path.join(".")})` };
    const receipt = parsed.data;
    if (receipt.n !== index) return { ok: false, n: index, reason: `receipt ${index}: n is ${receipt.n} (a receipt is missing, inserted or out of order)` };
    if (receipt.prev !== this.#previousHash) return { ok: false, n: index, reason: `receipt ${index}: prev does not match the receipt before it` };
    this.#seq ??= receipt.seq;
    if (receipt.seq !== this.#seq) return { ok: false, n: index, reason: `receipt ${index}: belongs to another sequence` };
    if (this.#sealed) return { ok: false, n: index, reason: `receipt ${index}: follows the seal` };
    this.#sealed = receipt.effects.some((effect) => effect.type === "seal");
    this.#previousHash = hash;
    this.#count++;
    this.#last = receipt;
    return { ok: true, receipt };
  }

  get length(): number {
    return this.#count;
  }

  get sealed(): boolean {
    return this.#sealed;
  }

  get head(): { n: number; hash: string } | null {
    return this.#last && this.#previousHash ? { n: this.#last.n, hash: this.#previousHash } : null;
  }

  /**
   * Compares the end of the chain with a signed head (`signed_head` of
   * `GET /v1/sequences/:id`): a shorter chain has lost its tail; a sealed head
   * needs the seal as the last receipt. Returns why not, or null.
   */
  async checkHead(signedHead: string): Promise<string | null> {
    const verified = await verifyJws(signedHead.trim(), { typ: TYP.head, algorithms: [SIGNING_ALGORITHM], resolveKey: this.keys });
    if (!verified.ok) return `signed head: ${verified.message}`;
    const parsed = HeadClaimsSchema.safeParse(verified.payload);
    if (!parsed.success) return "signed head: its claims are not a head's";
    const head = parsed.data;
    if (head.seq !== this.#seq) return "signed head is of another sequence";
    const mine = this.head;
    if (!mine || head.n > mine.n) return `the chain ends at n=${mine?.n ?? -1} but the signed head is n=${head.n}: its tail is missing`;
    if (head.n === mine.n && head.hash !== mine.hash) return `receipt ${head.n} differs from the one the signed head names`;
    if (head.n === mine.n && head.sealed !== this.#sealed) return head.sealed ? "the signed head says sealed, but the chain does not end in a seal" : "the chain is sealed but the head is not";
    return null;
  }
}

/** Verifies a whole chain held in memory (tests, small exports). */
export async function verifyReceiptChain(receipts: readonly string[], keys: KeyLookup): Promise<ChainVerdict> {
  const checker = new ChainChecker(keys);
  const claims: ReceiptClaims[] = [];
  for (const jws of receipts) {
    const result = await checker.push(jws);
    if (!result.ok) return result;
    claims.push(result.receipt);
  }
  return { ok: true, length: checker.length, head: checker.head, sealed: checker.sealed, receipts: claims };
}
