import { capabilityClaims } from "../policy/capability-claims.js";
import type { CompiledWorkflow } from "../policy/compile.js";
import type { MintPlan, SequenceRecord } from "../policy/types.js";
import { signCapability } from "../tokens/capability.js";
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
  return signCapability(keyring, await capabilityClaims(issuer, workflow, record, mint, receipt));
}
