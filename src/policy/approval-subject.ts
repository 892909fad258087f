import { digestJson } from "../tokens/digest.js";
import type { CompiledWorkflow } from "./compile.js";
import { evidenceItems } from "./gate-tally.js";
import type { EvidenceItem, LedgerState } from "./types.js";

/**
 * Exactly what an approver of the pending gate approves: this sequence, under
 * this workflow version, moving from this stage to the next, with these
 * parameters and the attestations already accepted for the gate. An approval
 * carries the SHA-256 of its RFC 8785 JSON (`digest`), so it cannot be moved to
 * another sequence, stage, parameter set or body of evidence.
 */
export interface ApprovalSubject {
  seq: string;
  workflow: string;
  stage: string;
  /** The stage the gate opens; null when the gate completes the sequence. */
  opens: string | null;
  params: Record<string, unknown>;
  evidence: EvidenceItem[];
}

/** The subject of the pending gate's approvals; null when that gate takes none. */
export function approvalSubject(workflow: CompiledWorkflow, state: LedgerState): ApprovalSubject | null {
  if (state.status !== "active") return null;
  const gate = workflow.gates[state.stage + 1];
  if (!gate?.approvals) return null;
  const stages = workflow.definition.stages;
  return {
    seq: state.record.seq,
    workflow: workflow.hash,
    stage: stages[state.stage]?.id ?? "",
    opens: stages[state.stage + 1]?.id ?? null,
    params: state.record.params,
    evidence: evidenceItems(state),
  };
}

/** The snapshot with `approvalDigest` derived: what `decide()` compares an approval's `digest` with. */
export async function withApprovalDigest(workflow: CompiledWorkflow, state: LedgerState): Promise<LedgerState> {
  const subject = approvalSubject(workflow, state);
  return { ...state, approvalDigest: subject ? await digestJson(subject) : null };
}
