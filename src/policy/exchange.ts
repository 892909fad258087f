import type { CompiledWorkflow } from "./compile.js";
import type { Refusal } from "./presentation.js";
import type { CapabilityClaims, LedgerState } from "./types.js";

/**
 * Whether a capability an agent presents as the subject token of a token exchange
 * (RFC 8693, `POST /oauth/token`) stands for its sequence's current stage. It need not be
 * live: an expired capability of the current stage gets the stage's capability re-issued,
 * within the stage's limits, exactly as the capability endpoint does for the same agent,
 * which needs no token at all. What the subject token pins is the sequence, the workflow
 * version, the stage and the holder's key. Pure; its signature was verified by the shell.
 */
export function exchangeProblem(workflow: CompiledWorkflow, state: LedgerState, token: CapabilityClaims): Refusal | null {
  // As in decide(): nothing gets past a seal.
  if (state.status === "sealed") {
    return { code: "SEALED_SEQUENCE", message: `sequence is sealed (${state.sealReason})`, details: { reason: state.sealReason } };
  }
  // Defence in depth: routing by the signed `seq` already picked this ledger.
  if (token.seq !== state.record.seq) return invalid("subject token belongs to another sequence");
  if (token.workflow !== workflow.hash) return invalid("subject token names another workflow version");
  const stage = workflow.definition.stages[state.stage];
  if (!stage) return { code: "SEQUENCE_VIOLATION", message: "sequence has no current stage" };
  if (token.stage !== stage.id) {
    return {
      code: "SEQUENCE_VIOLATION",
      message: `subject token is for stage ${token.stage}; the current stage is ${stage.id}`,
      details: { token_stage: token.stage, current_stage: stage.id },
    };
  }
  // A sender-constrained workflow never minted an unbound capability, and the only key of a
  // sequence is its actor's: refuse either anyway, as the gate does.
  if (workflow.definition.sender_constrained && !token.cnf) return invalid("subject token is not bound to a key");
  if (token.cnf && token.cnf.jkt !== state.record.actorJkt) return invalid("subject token is bound to another key than the actor's");
  return null;
}

function invalid(message: string): Refusal<"TOKEN_INVALID"> {
  return { code: "TOKEN_INVALID", message };
}
