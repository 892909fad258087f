import { z } from "zod";
import { checkExpressions } from "./cel-rules.js";
import { readWorkflow } from "./document.js";
import type { LintEnvironment } from "./environment.js";
import { Findings, type LintFinding } from "./findings.js";
import { checkGates } from "./gates.js";

export { type EnvironmentResult, type LintEnvironment, lintEnvironmentOf } from "./environment.js";
export { type LintFinding, type LintRule, type Severity, pointer } from "./findings.js";

/**
 * What the schema cannot see in a workflow document: gates this configuration can never
 * satisfy, stages out of reach, CEL that names a parameter the params schema does not
 * have or compares values of kinds that never meet, budgets no condition bounds, signals no
 * detector emits; and, for the mistakes the schema does refuse (no grants, `uses` 0, a TTL
 * past its bound), a finding that names the limit. Pure: the document and the
 * configuration's environment in, findings out, each with a JSON pointer into the document.
 *
 * @example
 * const findings = lintWorkflow(JSON.parse(text), environment);
 * const failed = findings.some((f) => f.severity === "error");
 */
export function lintWorkflow(input: unknown, environment: LintEnvironment): LintFinding[] {
  const findings = new Findings();
  const workflow = readWorkflow(input, findings);
  if (!workflow) return findings.list;
  try {
    z.fromJSONSchema(workflow.params as Parameters<typeof z.fromJSONSchema>[0]);
  } catch (error) {
    // compile.ts refuses it the same way: the workflow would not load.
    findings.error("params-schema", ["params"], `invalid JSON Schema: ${(error as Error).message}`);
  }
  checkGates(workflow, environment, findings);
  checkExpressions(workflow, findings);
  return findings.list;
}
