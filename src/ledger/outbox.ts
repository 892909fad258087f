import type { BatonConfig } from "../config/load.js";
import type { SequenceRecord } from "../policy/types.js";
import type { LedgerStore } from "./store.js";

/** Receipts handed to the analysis plane per call. */
const DELIVERY_BATCH = 200;

/**
 * Delivers committed receipts to the analysis plane — the actor's and the
 * subject's analysts — in order, at least once: the cursor moves only as far as
 * an analyst acknowledged. Says whether to retry (a failure or a refusal) or to
 * go on at once (a full page).
 */
export async function deliverOutbox(
  store: LedgerStore,
  analysts: Env["ANALYSTS"],
  record: SequenceRecord,
  config: BatonConfig,
): Promise<{ retry: boolean; more: boolean }> {
  // Only the parties some detector watches: an analyst without detectors has nothing to do
  // with a receipt. A detector configured later catches up from the cursor, which stays put.
  const watched = { actor: `actor:${record.actor}`, subject: `subject:${record.subject}` };
  const targets = (["actor", "subject"] as const).filter((by) => config.detectors.some((d) => d.by === by)).map((by) => watched[by]);
  let more = false;
  let refused = false;
  try {
    for (const target of targets) {
      const after = store.delivered(target);
      const page = store.outbox(after, DELIVERY_BATCH);
      if (!page) continue;
      let through = page.through;
      if (page.receipts.length > 0) {
        const analyst = analysts.get(analysts.idFromName(target));
        ({ through } = await analyst.ingest({ scope: target, seq: record.seq, after, through: page.through, receipts: page.receipts }));
      }
      store.setDelivered(target, through);
      more ||= page.full;
      refused ||= through < page.through;
    }
  } catch (error) {
    console.error("receipt delivery to the analysis plane failed; retrying", error);
    refused = true;
  }
  return { retry: refused, more };
}
