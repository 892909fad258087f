import type { CompiledWorkflow } from "../policy/compile.js";
import type { MintPlan, SequenceRecord } from "../policy/types.js";
import { signCapability } from "../tokens/capability.js";
import { digestJson } from "../tokens/digest.js";
import type { Keyring } from "../tokens/keys.js";

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
