import { z } from "zod";

/** The one SequenceIndex object (by name): see the README for why one is enough, and its limit. */
export const SEQUENCE_INDEX_NAME = "sequences";

/** The part of a receipt the index reads. */
export interface IndexedClaims {
  kind: string;
  stage: string;
  decision: string;
  at: number;
  details?: unknown;
  effects: readonly { type: string; reason?: unknown }[];
  minted: { stage: string } | null;
}

const CHANGES = new Set(["advance", "seal", "reject_gate"]);

/** Whether a receipt changes what the index shows: a start, a stage or status change, a gate starting or ending its wait. */
export function indexes(claims: Pick<IndexedClaims, "kind" | "decision" | "effects">): boolean {
  return claims.kind === "start" || claims.decision === "ESCALATE" || claims.effects.some((e) => CHANGES.has(e.type));
}

/** What a gate waiting for approvals tells the index (gate-tally's approvalsPending, recorded in the ESCALATE receipt). */
const PendingApprovals = z.looseObject({
  group: z.string(),
  required: z.number(),
  remaining: z.number(),
  until: z.number().nullable(),
});

export interface Waiting {
  stage: string;
  group: string;
  required: number;
  remaining: number;
  /** Seconds: when the first counting approval stops counting; null while none counts. */
  until: number | null;
}

/** A sequence's row as the index keeps it, between receipts. */
export interface IndexedState {
  status: "active" | "sealed";
  sealReason: string | null;
  stage: string;
  updated: number;
  waiting: Waiting | null;
}

/** The row after one receipt (applied in chain order, each once). Pure, so the rules are tested without storage. */
export function applyReceipt(state: IndexedState, claims: IndexedClaims): IndexedState {
  let next: IndexedState = { ...state, updated: claims.at };
  if (claims.kind === "start") next = { ...next, stage: claims.minted?.stage ?? claims.stage, status: "active" };
  for (const effect of claims.effects) {
    if (effect.type === "advance") next = { ...next, stage: claims.minted?.stage ?? next.stage, waiting: null };
    if (effect.type === "reject_gate") next = { ...next, waiting: null };
    if (effect.type === "seal") next = { ...next, status: "sealed", sealReason: typeof effect.reason === "string" ? effect.reason : null, waiting: null };
  }
  if (claims.decision === "ESCALATE") {
    const pending = PendingApprovals.safeParse(claims.details);
    if (pending.success) {
      const { group, required, remaining, until } = pending.data;
      next = { ...next, waiting: { stage: claims.stage, group, required, remaining, until } };
    }
  }
  return next;
}
