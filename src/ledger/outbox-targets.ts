import type { BatonConfig } from "../config/load.js";
import type { Webhook } from "../config/schema.js";
import { type Fetcher, postEvent } from "../outbound.js";
import type { SequenceRecord } from "../policy/types.js";
import { receiptEvent, signEvent } from "../tokens/event.js";
import type { Keyring } from "../tokens/keys.js";
import { type ShadowClaims, receiptHash } from "../tokens/receipt.js";
import { type DeliveryTarget, type OutboxReceipt, mayChangeSequence } from "./outbox.js";
import type { SequenceIndex } from "./sequence-index.js";
import { shadowed } from "./shadow.js";
import { SEQUENCE_INDEX_NAME, indexes } from "./sequence-index-rules.js";

/** The claims a target's filter reads, available at commit time as well as from a stored receipt. */
type FilterClaims = Parameters<typeof indexes>[0] & { shadow?: ShadowClaims | undefined };

/** Whether a receipt's shadow decision is one the shadow report lists: it differs, or the candidate could not decide. */
export function shadowFlips(claims: Pick<FilterClaims, "shadow">): boolean {
  return claims.shadow !== undefined && claims.shadow.flip !== null;
}

/**
 * Who wants a receipt just committed: the analysts (an allowed redeem, when a detector is
 * configured), and any other target (a seal, an escalation, a subscribed event, a shadow
 * flip). Pure and cheap: the ledger hands the first to the analysts before it answers, and
 * arms its standby and runs the outbox only for the second.
 */
export function outboxWants(config: BatonConfig, claims: FilterClaims, activity: boolean): { analysts: boolean; others: boolean } {
  const event = receiptEvent(claims);
  return {
    analysts: activity && config.detectors.length > 0,
    others: indexes(claims) || shadowFlips(claims) || (event !== null && config.webhooks.some((w) => w.events.includes(event))),
  };
}

export interface TargetBindings {
  analysts: Env["ANALYSTS"];
  index: Env["SEQUENCE_INDEX"];
  keyring: Keyring;
  fetcher: Fetcher;
}

/**
 * The outbox targets of one sequence: its analysts (only those some detector watches), the
 * sequence index, each webhook, and the index's shadow report while the sequence's workflow
 * has a candidate configured (only those sequences pay for it; a flip still waiting when the
 * candidate is removed stays in its receipt, which `baton shadow report --from` reads).
 */
export function outboxTargets(config: BatonConfig, record: SequenceRecord, bindings: TargetBindings): DeliveryTarget[] {
  // A detector configured later catches up from the analyst's cursor, which stayed put.
  const analysts = (["actor", "subject"] as const)
    .filter((by) => config.detectors.some((d) => d.by === by))
    .map((by) => analystTarget(bindings.analysts, record, by === "actor" ? `actor:${record.actor}` : `subject:${record.subject}`));
  const index = bindings.index.get(bindings.index.idFromName(SEQUENCE_INDEX_NAME));
  return [
    ...analysts,
    indexTarget(index, record),
    ...(shadowed(config, record) ? [shadowTarget(index, record)] : []),
    ...config.webhooks.map((w) => webhookTarget(config.issuer, w, bindings)),
  ];
}

/**
 * The shadow report (in the sequence index): the receipts whose shadow decision differs.
 * It reads every receipt's claims, an allowed redeem's too (the flip a tightened condition
 * makes most often), which only sequences of a shadowed workflow pay for.
 */
export function shadowTarget(index: DurableObjectStub<SequenceIndex>, record: SequenceRecord): DeliveryTarget {
  return {
    name: "shadow",
    redeliverable: true,
    wants: (r) => shadowFlips(r.claims()),
    send: async ({ through, receipts }) => (await index.ingestShadow({ workflow: record.workflowId, through, receipts: receipts.map((r) => r.jws) })).through,
  };
}

/** The analysis plane reads allowed redeems only; the cursor names the party (as before targets were many). */
export function analystTarget(analysts: Env["ANALYSTS"], record: SequenceRecord, scope: string): DeliveryTarget {
  return {
    name: scope,
    wants: (r) => r.activity !== 0,
    continuous: true,
    redeliverable: true,
    send: async ({ after, through, receipts }) => {
      const analyst = analysts.get(analysts.idFromName(scope));
      return (await analyst.ingest({ scope, seq: record.seq, after, through, receipts: receipts.map((r) => r.jws) })).through;
    },
  };
}

/** The sequence index (one object, SEQUENCE_INDEX_NAME; a test hands another). */
export function indexTarget(index: DurableObjectStub<SequenceIndex>, record: SequenceRecord): DeliveryTarget {
  return {
    name: "index",
    redeliverable: true,
    wants: (r) => mayChangeSequence(r) && indexes(r.claims()),
    send: async ({ through, receipts }) => {
      const sequence = { seq: record.seq, workflow: record.workflowId, actor: record.actor, subject: record.subject, orchestrator: record.orchestrator, created: record.createdAt };
      return (await index.ingest({ sequence, through, receipts: receipts.map((r) => r.jws) })).through;
    },
  };
}

/**
 * One webhook endpoint: the receipts that are events it subscribed to, POSTed one at a
 * time in chain order; the first one not acknowledged stops the page there, so a
 * later event of the sequence never overtakes an earlier one.
 */
export function webhookTarget(issuer: string, webhook: Webhook, bindings: Pick<TargetBindings, "keyring" | "fetcher">): DeliveryTarget {
  const subscribed = (r: OutboxReceipt) => {
    if (!mayChangeSequence(r)) return false;
    const event = receiptEvent(r.claims());
    return event !== null && webhook.events.includes(event);
  };
  return {
    name: `webhook:${webhook.id}`,
    wants: subscribed,
    send: async ({ through, receipts }) => {
      for (const r of receipts) {
        const claims = r.claims();
        const event = receiptEvent(claims);
        if (!event) continue;
        const jws = await signEvent(bindings.keyring, {
          iss: issuer,
          // Stable per event (one receipt is at most one event), so a redelivery is recognisable.
          jti: `${claims.seq}.${r.n}`,
          iat: Math.floor(Date.now() / 1000),
          event,
          seq: claims.seq,
          n: r.n,
          hash: await receiptHash(r.jws),
          receipt: r.jws,
          console_url: `${issuer}/console/sequences/${claims.seq}`,
        });
        if (!(await postEvent(bindings.fetcher, webhook.url, jws))) return r.n - 1;
      }
      return through;
    },
  };
}
