import { BatonError } from "../errors.js";
import type { CompiledWorkflow } from "../policy/compile.js";
import type { LedgerRequest, LedgerState, MintPlan, Outcome, SequenceRecord } from "../policy/types.js";
import { signCapability } from "../tokens/capability.js";
import { digestJson } from "../tokens/digest.js";
import type { Keyring } from "../tokens/keys.js";
import type { LedgerAnswer } from "./protocol.js";
import type { StoredSequence } from "./store.js";

/** Signs the capability `decide()` planned, naming the receipt that minted it and the evidence that opened its stage. */
export async function mintCapability(
  keyring: Keyring,
  issuer: string,
  workflow: CompiledWorkflow,
  record: SequenceRecord,
  mint: MintPlan,
  receipt: string,
): Promise<string> {
  const items = mint.evidence.map(({ iss, type, jti }) => ({ iss, type, jti }));
  // The digest covers each item's token hash too, so a tool can check the evidence it is shown.
  return signCapability(keyring, {
    iss: issuer,
    sub: record.subject,
    act: record.delegation?.act ?? { sub: record.actor },
    aud: mint.aud,
    iat: mint.iat,
    nbf: mint.nbf,
    exp: mint.exp,
    jti: mint.jti,
    seq: record.seq,
    stage: mint.stageId,
    workflow: workflow.hash,
    receipt,
    authorization_details: mint.authorization_details,
    ...(mint.other_stages ? { other_stages: mint.other_stages } : {}),
    evidence: items.length === 0 ? null : { digest: await digestJson(mint.evidence), items },
    ...(mint.cnf ? { cnf: mint.cnf } : {}),
    params: record.params,
  });
}

export function render(
  outcome: Outcome,
  request: LedgerRequest,
  receipt: string,
  capability: { token: string; exp: number } | null,
  stored: StoredSequence,
  compiled: CompiledWorkflow,
): LedgerAnswer {
  if (outcome.decision === "DENY" && outcome.code) {
    return error(new BatonError(outcome.code, outcome.message, { details: outcome.details, receipt }));
  }
  const sealed = outcome.effects.some((e) => e.type === "seal");
  const advancedTo = outcome.effects.find((e) => e.type === "advance");
  const stageIndex = advancedTo?.type === "advance" ? advancedTo.stage : null;
  const body: Record<string, unknown> = {
    decision: outcome.decision,
    code: outcome.code,
    message: outcome.message,
    sequence: stored.record.seq,
    sealed,
    receipt,
  };
  if (outcome.details !== undefined) body.details = outcome.details;
  if (stageIndex !== null) body.stage = compiled.definition.stages[stageIndex]?.id;
  if (capability) {
    body.capability = capability.token;
    body.expires_at = capability.exp;
    body.stage ??= outcome.mint?.stageId;
  }
  const status = outcome.decision === "ESCALATE" ? 202 : request.kind === "start" ? 201 : 200;
  return reply(status, body);
}

export function capabilityBody(stored: StoredSequence, capability: { token: string; exp: number }, state: LedgerState): Record<string, unknown> {
  return {
    decision: "ALLOW",
    code: null,
    message: "current capability",
    sequence: stored.record.seq,
    sealed: state.status === "sealed",
    capability: capability.token,
    expires_at: capability.exp,
    receipt: null,
  };
}

export function reply(status: number, body: unknown): LedgerAnswer {
  return { status, body: JSON.stringify(body) };
}

export function error(e: BatonError): LedgerAnswer {
  return reply(e.status, e.toBody());
}

export function unknownSequence(): LedgerAnswer {
  return error(new BatonError("UNKNOWN_SEQUENCE", "no such sequence"));
}
