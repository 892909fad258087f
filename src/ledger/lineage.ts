import type { CompiledWorkflow } from "../policy/compile.js";
import type { AncestorStanding, LedgerRequest, LedgerState } from "../policy/types.js";
import { sequenceStub } from "./stub.js";

/** The decisions a delegated sequence makes only while its ancestors' stage is open: a use, and handing on. */
type ConsultingRequest = Extract<LedgerRequest, { kind: "redeem" | "delegate" }>;

/**
 * The request with the standing of the sequence's ancestors, for a delegated
 * sequence's redeem or delegation (policy/decide/lineage.ts decides on it). The
 * child asks at each decision instead of being told when its parent moves on: a
 * notice could be lost or late, a question cannot. The parent answers once its
 * own pending decision is committed (its calls run one at a time), so a use whose
 * question reached it first is ordered before the parent moved on, like a use at
 * the parent's own ledger. Calls only go up the chain: no two ledgers wait on each other.
 */
export async function withLineage(namespace: Env["SEQUENCES"], state: LedgerState, request: LedgerRequest): Promise<LedgerRequest> {
  const { delegation } = state.record;
  if (!delegation || state.status === "sealed" || !consultsLineage(request)) return request;
  return { ...request, lineage: await sequenceStub(namespace, delegation.parent).standing() };
}

/**
 * Where a sequence stands for its delegated descendants: itself first, then, while
 * it is active and itself delegated, its own ancestors (at most the depth cap).
 */
export async function standingOf(namespace: Env["SEQUENCES"], compiled: CompiledWorkflow, state: LedgerState): Promise<AncestorStanding[]> {
  const own: AncestorStanding = {
    sequence: state.record.seq,
    stage: compiled.definition.stages[state.stage]?.id ?? "",
    status: state.status,
  };
  const { delegation } = state.record;
  if (own.status !== "active" || !delegation) return [own];
  return [own, ...(await sequenceStub(namespace, delegation.parent).standing())];
}

function consultsLineage(request: LedgerRequest): request is ConsultingRequest {
  return request.kind === "redeem" || request.kind === "delegate";
}
