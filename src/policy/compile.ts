import { z } from "zod";
import { digestJson } from "../tokens/digest.js";
import { CelCompileError, type CompiledCondition, type CompiledNumber, compileCondition, compileNumber } from "./cel.js";
import {
  type ApprovalRequirement,
  type AttestationRequirement,
  type Gate,
  type Grant,
  type OutcomeRequirement,
  type SignalInputs,
  type Workflow,
  WorkflowSchema,
} from "./workflow-schema.js";

export interface CompiledGrant {
  readonly grant: Grant;
  readonly where: CompiledCondition | null;
  /** The cumulative bound of `grant.sum`, as an expression over `params` (a constant is one too). */
  readonly sumMax: CompiledNumber | null;
}

/** A gate: attestations (each with its compiled condition), then approvals when required. */
export interface CompiledGate {
  readonly attestations: readonly CompiledRequirement[];
  readonly outcomes: readonly OutcomeRequirement[];
  readonly approvals: ApprovalRequirement | null;
  readonly signals: SignalInputs | null;
}

export interface CompiledRequirement {
  readonly requirement: AttestationRequirement;
  readonly where: CompiledCondition | null;
}

/** A workflow version ready for `decide()`: conditions planned, parameters schema built. */
export interface CompiledWorkflow {
  readonly id: string;
  /** SHA-256 (base64url) of the RFC 8785 canonical JSON of the definition: the version id. */
  readonly hash: string;
  readonly definition: Workflow;
  readonly params: z.ZodType;
  /** grants[stage][i] */
  readonly grants: readonly (readonly CompiledGrant[])[];
  /**
   * gates[i] is the gate that opens stage i (null for stage 0); gates[stages.length]
   * is the completion gate (null when the workflow completes on last use).
   */
  readonly gates: readonly (CompiledGate | null)[];
}

export interface WorkflowIssue {
  path: (string | number)[];
  message: string;
}

export class WorkflowCompileError extends Error {
  override readonly name = "WorkflowCompileError";
  constructor(readonly issues: WorkflowIssue[]) {
    super(issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`).join("; "));
  }
}

/** `["stages", 2, "gate"]` → `stages[2].gate` — the form configuration errors are reported in. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? String(part) : `.${String(part)}`;
  }
  return out;
}

/**
 * Validates a workflow document and compiles it once: every CEL expression is
 * parsed and planned here, so a bad expression fails at load with its exact path.
 */
export async function compileWorkflow(input: unknown): Promise<CompiledWorkflow> {
  const parsed = WorkflowSchema.safeParse(input);
  if (!parsed.success) {
    throw new WorkflowCompileError(
      parsed.error.issues.map((issue) => ({ path: issue.path as (string | number)[], message: issue.message })),
    );
  }
  const definition = parsed.data;
  const issues: WorkflowIssue[] = [];

  const condition = (source: string | undefined, path: (string | number)[]): CompiledCondition | null => {
    if (source === undefined) return null;
    try {
      return compileCondition(source);
    } catch (error) {
      if (!(error instanceof CelCompileError)) throw error;
      issues.push({ path, message: error.message });
      return null;
    }
  };
  const number = (source: string | number, path: (string | number)[]): CompiledNumber | null => {
    try {
      return compileNumber(typeof source === "number" ? String(source) : source);
    } catch (error) {
      if (!(error instanceof CelCompileError)) throw error;
      issues.push({ path, message: error.message });
      return null;
    }
  };
  const gate = (raw: Gate, path: (string | number)[]): CompiledGate => ({
    attestations: raw.attestations.map((requirement: AttestationRequirement, i) => ({
      requirement,
      where: condition(requirement.where, [...path, "attestations", i, "where"]),
    })),
    outcomes: raw.outcomes,
    approvals: raw.approvals ?? null,
    signals: raw.signals ?? null,
  });

  const grants = definition.stages.map((stage, s) =>
    stage.grants.map((grant, g) => ({
      grant,
      where: condition(grant.where, ["stages", s, "grants", g, "where"]),
      sumMax: grant.sum ? number(grant.sum.max, ["stages", s, "grants", g, "sum", "max"]) : null,
    })),
  );
  const gates: (CompiledGate | null)[] = definition.stages.map((stage, s) =>
    stage.gate ? gate(stage.gate, ["stages", s, "gate"]) : null,
  );
  gates.push(definition.complete.on === "attestations" ? gate(definition.complete.gate, ["complete", "gate"]) : null);

  let params: z.ZodType;
  try {
    params = z.fromJSONSchema(definition.params as Parameters<typeof z.fromJSONSchema>[0]);
  } catch (error) {
    issues.push({ path: ["params"], message: `invalid JSON Schema: ${(error as Error).message}` });
    params = z.never();
  }

  if (issues.length > 0) throw new WorkflowCompileError(issues);
  return { id: definition.id, hash: await digestJson(definition), definition, params, grants, gates };
}
