import type { BatonConfig } from "../config/load.js";
import { type ShadowRun, shadowDecision } from "../policy/shadow.js";
import type { SequenceRecord } from "../policy/types.js";
import type { ShadowClaims } from "../tokens/receipt.js";

/**
 * Whether a sequence's decisions are shadowed: a candidate is configured for its
 * workflow (a delegated child runs under a one-stage version of its own, which no
 * candidate is a version of).
 */
export function shadowed(config: BatonConfig, record: SequenceRecord): boolean {
  return record.delegation === undefined && config.candidates.has(record.workflowId);
}

/**
 * The shadow candidate's decision of what the enforced version just decided, for the
 * receipt; undefined when the sequence is not shadowed (the only cost then is this
 * lookup) or already runs under the candidate itself.
 */
export async function shadowOf(config: BatonConfig, run: ShadowRun): Promise<ShadowClaims | undefined> {
  const record = run.state.record;
  if (!shadowed(config, record)) return undefined;
  const candidate = config.candidates.get(record.workflowId);
  if (!candidate || candidate.compiled?.hash === record.workflow) return undefined;
  const first = candidate.issues[0];
  return shadowDecision(candidate.compiled ?? { broken: first ? `${first.path}: ${first.message}` : "unknown" }, run);
}
