import type { Gate, Grant, SignalInputs, Stage, Workflow } from "../../policy/workflow-schema.js";
import type { LintEnvironment } from "./environment.js";
import { type Findings, type Path, pointer } from "./findings.js";

/**
 * Gates that can never be satisfied with this configuration, the stages they leave out of
 * reach, and signal inputs no configured detector emits. A sequence stuck before such a gate
 * stays open until its capability runs out, which is how an author would otherwise find out.
 */
export function checkGates(workflow: Workflow, environment: LintEnvironment, findings: Findings): void {
  const unusable = new Set<Grant>();
  workflow.stages.forEach((stage, s) => {
    stage.grants.forEach((grant, g) => {
      const at = ["stages", s, "grants", g, "signals"];
      if (!signalsKnown(grant.signals, at, `grant ${g} of stage ${stage.id} can never be used`, environment, findings)) unusable.add(grant);
    });
  });

  const gates: { gate: Gate; at: Path; opens: number }[] = [];
  workflow.stages.forEach((stage, s) => {
    if (stage.gate) gates.push({ gate: stage.gate, at: ["stages", s, "gate"], opens: s });
  });
  if (workflow.complete.on === "attestations") gates.push({ gate: workflow.complete.gate, at: ["complete", "gate"], opens: workflow.stages.length });

  let blocked: { opens: number; at: Path } | null = null;
  for (const { gate, at, opens } of gates) {
    const previous = workflow.stages[opens - 1] as Stage;
    const what = opens < workflow.stages.length ? `stage ${workflow.stages[opens]?.id} never opens` : "the sequence never completes";
    let satisfiable = signalsKnown(gate.signals, [...at, "signals"], `the gate is never satisfied: ${what}`, environment, findings);
    gate.attestations.forEach((requirement, i) => {
      if (environment.attesters.has(requirement.issuer)) return;
      satisfiable = false;
      findings.error("unknown-issuer", [...at, "attestations", i, "issuer"], `no attester ${requirement.issuer} is configured: its attestation can never be verified, so ${what}`);
    });
    if (gate.approvals) {
      const { group, count } = gate.approvals;
      const members = environment.groups.get(group) ?? 0;
      if (members < count) {
        satisfiable = false;
        const has = members === 0 ? "no approver is in that group" : `the configuration has ${members}`;
        findings.error("approval-group-too-small", [...at, "approvals", "count"], `needs ${count} approvers of group ${group}; ${has}, so ${what}`);
      }
    }
    gate.outcomes.forEach((outcome, i) => {
      const addressing = previous.grants.filter((g) => g.audience === outcome.tool && g.actions.includes(outcome.action));
      const problem =
        addressing.length === 0
          ? `no grant of stage ${previous.id} lets ${outcome.tool} perform ${outcome.action}`
          : addressing.every((g) => unusable.has(g))
            ? `the grants of stage ${previous.id} that let ${outcome.tool} perform ${outcome.action} can never be used`
            : null;
      if (!problem) return;
      satisfiable = false;
      findings.error("outcome-not-granted", [...at, "outcomes", i], `${problem}: the outcome is never reported, so ${what}`);
    });
    if (!satisfiable && !blocked) blocked = { opens, at };
  }

  if (!blocked) return;
  for (let s = blocked.opens; s < workflow.stages.length; s++) {
    findings.warning("unreachable-stage", ["stages", s], `stage ${workflow.stages[s]?.id} is unreachable: the gate at ${pointer(blocked.at)} can never be satisfied`);
  }
}

/**
 * Whether every signal a gate or grant requires has a detector to emit it. A required signal
 * nobody emits is never present (SIGNAL_REQUIRED for ever): an error. A blocking one only
 * never blocks: a warning, since the protection the author meant is not there.
 */
function signalsKnown(signals: SignalInputs | undefined, at: Path, consequence: string, environment: LintEnvironment, findings: Findings): boolean {
  let known = true;
  signals?.require.forEach((id, i) => {
    if (environment.detectors.has(id)) return;
    known = false;
    findings.error("unknown-signal", [...at, "require", i], `no configured detector emits ${id}: the required signal is never present, so ${consequence}`);
  });
  signals?.block.forEach((id, i) => {
    if (!environment.detectors.has(id)) findings.warning("unknown-signal", [...at, "block", i], `no configured detector emits ${id}: this block never applies`);
  });
  return known;
}
