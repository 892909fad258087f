import type { BatonConfig } from "../config/load.js";
import { SEQUENCE_INDEX_NAME } from "./sequence-index-rules.js";

/** Promoted versions whose first sequence is known to have started (in this isolate): no call needed any more. */
const claimed = new Set<string>();

/**
 * The version a promoted workflow replaced, when `seq` is the first sequence started
 * under the promoted version: its start receipt then says so (`promoted_from`). The
 * sequence index settles "first" across every ledger, once. Enforcement never waits on
 * it: if the index cannot be asked, this start is not marked and the next one asks again.
 */
export async function promotionOf(
  config: BatonConfig,
  index: Env["SEQUENCE_INDEX"],
  workflow: { id: string; hash: string },
  seq: string,
  now: number,
): Promise<string | undefined> {
  const from = config.promotions.get(workflow.id);
  // Only the version the configuration names now was promoted; a sequence pinned to another is not its first.
  if (!from || config.workflows.get(workflow.id)?.hash !== workflow.hash) return undefined;
  const key = `${workflow.id}\u0000${workflow.hash}`;
  if (claimed.has(key)) return undefined;
  try {
    const stub = index.get(index.idFromName(SEQUENCE_INDEX_NAME));
    const { first } = await stub.claimPromotion({ workflow: workflow.id, version: workflow.hash, from, seq, at: now });
    if (!first) claimed.add(key);
    return first ? from : undefined;
  } catch (error) {
    console.error(`could not ask the sequence index whether ${seq} is the first sequence of promoted ${workflow.id}`, error);
    return undefined;
  }
}
