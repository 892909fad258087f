import type { CapabilityClaims } from "../tokens/capability.js";
import { digestJson } from "../tokens/digest.js";
import type { CompiledWorkflow } from "./compile.js";
import type { MintPlan, SequenceRecord } from "./types.js";

/**
 * The claims of the capability `decide()` planned, naming the receipt that minted it and
 * the evidence that opened its stage. The ledger signs them with Baton's key; `baton test`
 * signs them with its throwaway one, so both hand out the same token.
 */
export async function capabilityClaims(
  issuer: string,
  workflow: CompiledWorkflow,
  record: SequenceRecord,
  mint: MintPlan,
  receipt: string,
): Promise<CapabilityClaims> {
  const items = mint.evidence.map(({ iss, type, jti }) => ({ iss, type, jti }));
  return {
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
    // The digest covers each item's token hash too, so a tool can check the evidence it is shown.
    evidence: items.length === 0 ? null : { digest: await digestJson(mint.evidence), items },
    ...(mint.cnf ? { cnf: mint.cnf } : {}),
    params: record.params,
  };
}
