import type { Workflow } from "../../policy/workflow-schema.js";
import { checkCel } from "./cel-check.js";
import { DYN, type Shape, shapeOfSchema } from "./cel-types.js";
import type { Findings, Path } from "./findings.js";

/**
 * Every CEL expression of a workflow, typed against the variables Baton binds where it is
 * evaluated: a grant's `where` sees `args` and `params`; an attestation's, `attestation` and
 * `params`; a `sum.max`, `params` only (policy/decide). `params` has the shape of the
 * workflow's params schema; the others are whatever the request carries.
 */
export function checkExpressions(workflow: Workflow, findings: Findings): void {
  const params = shapeOfSchema(workflow.params, "params");
  const check = (source: string, variables: Record<string, Shape>, expected: "bool" | "number", at: Path) => {
    const result = checkCel(source, variables, expected);
    for (const problem of result.problems) findings.add(problem.severity, problem.rule, at, problem.message);
    return result;
  };
  const gate = (g: Workflow["stages"][number]["gate"], at: Path) => {
    g?.attestations.forEach((requirement, i) => {
      if (requirement.where !== undefined) check(requirement.where, { attestation: DYN, params }, "bool", [...at, "attestations", i, "where"]);
    });
  };

  workflow.stages.forEach((stage, s) => {
    gate(stage.gate, ["stages", s, "gate"]);
    stage.grants.forEach((grant, g) => {
      const at: Path = ["stages", s, "grants", g];
      const where = grant.where === undefined ? null : check(grant.where, { args: DYN, params }, "bool", [...at, "where"]);
      if (grant.sum && typeof grant.sum.max === "string") check(grant.sum.max, { params }, "number", [...at, "sum", "max"]);
      // The budget caps the total, not each use: with no condition on the argument, one use may spend it all.
      if (grant.sum && !where?.args.has(grant.sum.arg)) {
        findings.warning("sum-unconstrained", [...at, "sum", "arg"], `no where condition constrains args.${grant.sum.arg}: a single use may spend the whole limit`);
      }
    });
  });
  if (workflow.complete.on === "attestations") gate(workflow.complete.gate, ["complete", "gate"]);
}
