import {
  APPROVAL_MAX_AGE_SECONDS,
  ATTESTATION_MAX_AGE_SECONDS,
  CAPABILITY_MAX_TTL_SECONDS,
} from "../../limits.js";
import { type Workflow, WorkflowSchema } from "../../policy/workflow-schema.js";
import type { Findings, Path } from "./findings.js";

type JsonObject = Record<string, unknown>;
const isObject = (value: unknown): value is JsonObject => typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * Stands in for a stage's missing grants once that is reported, so the rest of the
 * workflow is still checked; it addresses no real tool, so no outcome can name it.
 */
const NO_GRANTS = { audience: "lint.no-grants", actions: ["lint.no-grants"] };

/**
 * The workflow of a document, or null when the schema refuses it. The mistakes an author
 * most often makes in numbers the schema bounds (no grants, `uses` 0, a TTL past its limit)
 * are reported by rules of their own, with what the limit is, and then set to an allowed
 * value in a copy, so that one of them does not hide every other finding behind a schema error.
 */
export function readWorkflow(input: unknown, findings: Findings): Workflow | null {
  const copy: unknown = structuredClone(input);
  if (isObject(copy) && Array.isArray(copy.stages)) {
    copy.stages.forEach((stage: unknown, s) => {
      if (!isObject(stage)) return;
      const at: Path = ["stages", s];
      const name = typeof stage.id === "string" ? stage.id : `#${s}`;
      if (stage.grants === undefined || (Array.isArray(stage.grants) && stage.grants.length === 0)) {
        findings.error("stage-without-grants", [...at, "grants"], `stage ${name} grants nothing: its capability would allow no action (and the schema requires at least one grant)`);
        stage.grants = [NO_GRANTS];
      }
      if (Array.isArray(stage.grants)) {
        stage.grants.forEach((grant: unknown, g) => {
          if (!isObject(grant) || typeof grant.uses !== "number" || grant.uses > 0) return;
          findings.error("uses-zero", [...at, "grants", g, "uses"], `uses ${grant.uses}: the grant could never be used; remove it or give it at least 1 use`);
          grant.uses = 1;
        });
      }
      clamp(stage, "ttl_seconds", CAPABILITY_MAX_TTL_SECONDS, "CAPABILITY_MAX_TTL_SECONDS", at, findings);
      gateAges(stage.gate, [...at, "gate"], findings);
    });
  }
  if (isObject(copy) && isObject(copy.complete)) gateAges(copy.complete.gate, ["complete", "gate"], findings);

  const parsed = WorkflowSchema.safeParse(copy);
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues) {
    findings.error("schema", issue.path.map((p) => (typeof p === "number" ? p : String(p))), issue.message);
  }
  return null;
}

function gateAges(gate: unknown, at: Path, findings: Findings): void {
  if (!isObject(gate)) return;
  if (Array.isArray(gate.attestations)) {
    gate.attestations.forEach((requirement: unknown, i) => {
      if (isObject(requirement)) clamp(requirement, "max_age_seconds", ATTESTATION_MAX_AGE_SECONDS, "ATTESTATION_MAX_AGE_SECONDS", [...at, "attestations", i], findings);
    });
  }
  if (isObject(gate.approvals)) clamp(gate.approvals, "max_age_seconds", APPROVAL_MAX_AGE_SECONDS, "APPROVAL_MAX_AGE_SECONDS", [...at, "approvals"], findings);
}

/** A lifetime past Baton's bound: reported with the bound, then lowered to it in the copy. */
function clamp(holder: JsonObject, key: string, max: number, limit: string, at: Path, findings: Findings): void {
  const value = holder[key];
  if (typeof value !== "number" || value <= max) return;
  findings.error("ttl-beyond-max", [...at, key], `${key} ${value} is beyond the maximum of ${max} seconds (${limit}): Baton refuses to load the workflow`);
  holder[key] = max;
}
