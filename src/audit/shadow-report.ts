import { canonicalJson } from "../tokens/digest.js";
import { verifyJws } from "../tokens/jws.js";
import { SIGNING_ALGORITHM, TYP } from "../tokens/kinds.js";
import { ReceiptClaimsSchema } from "../tokens/receipt.js";
import { type ShadowEntry, shadowEntry } from "../tokens/shadow-entry.js";
import type { KeyLookup } from "./verify-chain.js";

/**
 * One line of a shadow report (GET /v1/workflows/:id/shadow), checked against the signed
 * receipt it carries: the receipt must verify with Baton's keys, and the line must be
 * exactly what that receipt records (`shadowEntry`), so the report a reader prints comes
 * from signed claims, never from the listing's word.
 */
export async function verifiedShadowEntry(
  listed: { receipt?: unknown } & Record<string, unknown>,
  keys: KeyLookup,
): Promise<{ ok: true; entry: ShadowEntry } | { ok: false; reason: string }> {
  const { receipt, ...line } = listed;
  if (typeof receipt !== "string") return { ok: false, reason: "the line carries no receipt" };
  const verified = await verifyJws(receipt, { typ: TYP.receipt, algorithms: [SIGNING_ALGORITHM], resolveKey: keys });
  if (!verified.ok) return { ok: false, reason: `its receipt does not verify: ${verified.message}` };
  const claims = ReceiptClaimsSchema.safeParse(verified.payload);
  if (!claims.success) return { ok: false, reason: "its receipt's claims are not a receipt's" };
  const entry = shadowEntry(claims.data);
  if (!entry) return { ok: false, reason: "its receipt records no shadow flip" };
  if (canonicalJson(entry) !== canonicalJson(line)) return { ok: false, reason: "the line says otherwise than its receipt" };
  return { ok: true, entry };
}
