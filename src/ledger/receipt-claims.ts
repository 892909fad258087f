import type { CompiledWorkflow } from "../policy/compile.js";
import type { LedgerRequest, LedgerState, Outcome } from "../policy/types.js";
import type { ReceiptClaims, ShadowClaims } from "../tokens/receipt.js";
import type { Head } from "./store.js";

/**
 * The receipt of one decision: chained to `head`, carrying exactly what `decide()` saw and
 * did; beside it, never mixed in, the shadow candidate's decision and a promotion's mark.
 */
export function receiptClaims(run: {
  issuer: string;
  compiled: CompiledWorkflow;
  state: LedgerState;
  request: LedgerRequest;
  outcome: Outcome;
  head: Head | null;
  now: number;
  shadow?: ShadowClaims | undefined;
  promotedFrom?: string | undefined;
}): ReceiptClaims {
  const { compiled, state, request, outcome, head } = run;
  return {
    iss: run.issuer,
    seq: state.record.seq,
    n: head ? head.n + 1 : 0,
    prev: head?.hash ?? null,
    at: run.now,
    kind: request.kind,
    stage: compiled.definition.stages[state.stage]?.id ?? "",
    decision: outcome.decision,
    code: outcome.code,
    message: outcome.message,
    ...(outcome.details === undefined ? {} : { details: outcome.details }),
    workflow: compiled.hash,
    inputs: request,
    effects: outcome.effects,
    nonce: presentedNonce(request),
    minted: outcome.mint && { jti: outcome.mint.jti, stage: outcome.mint.stageId, exp: outcome.mint.exp },
    ...(run.shadow ? { shadow: run.shadow } : {}),
    ...(run.promotedFrom ? { promoted_from: run.promotedFrom } : {}),
  };
}

/** The jti this decision concerned (presented token or evidence), if any. */
function presentedNonce(request: LedgerRequest): string | null {
  if (request.kind === "redeem" || request.kind === "delegate") return request.token.jti;
  if (request.kind === "evidence" && request.attestation.ok) return request.attestation.claims.jti;
  if (request.kind === "approval" && request.approval.ok) return request.approval.claims.jti;
  if (request.kind === "outcome") return request.redeemed.hash;
  return null;
}
