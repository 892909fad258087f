import { z } from "zod";
import {
  ATTESTATION_DEFAULT_MAX_AGE_SECONDS,
  ATTESTATION_MAX_AGE_SECONDS,
  CAPABILITY_DEFAULT_MAX_REISSUES,
  CAPABILITY_DEFAULT_TTL_SECONDS,
  CAPABILITY_MAX_REISSUES,
  CAPABILITY_MAX_TTL_SECONDS,
  CEL_EXPRESSION_MAX_CHARS,
  CLOCK_SKEW_MAX_SECONDS,
  DELEGATION_DEFAULT_DEPTH,
  DELEGATION_MAX_DEPTH,
  APPROVAL_DEFAULT_MAX_AGE_SECONDS,
  APPROVAL_MAX_AGE_SECONDS,
  GATE_MAX_APPROVALS,
  GATE_MAX_ATTESTATIONS,
  GRANT_MAX_USES,
  STAGE_MAX_GRANTS,
  WORKFLOW_MAX_STAGES,
} from "../limits.js";

/** The audience of grants Baton itself honours, and the one action it has: start a sub-agent's sequence. */
export const BATON_AUDIENCE = "baton";
export const DELEGATE_ACTION = "delegate";

/** Identifiers that appear in tokens and URLs: short, printable, no surprises. */
export const Identifier = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9][a-z0-9._:-]*$/, "lowercase letters, digits and . _ : - only");

const CelSource = z.string().min(1).max(CEL_EXPRESSION_MAX_CHARS);

/**
 * A cumulative bound on one numeric argument over every use of a grant in a
 * sequence: the sum of `args[arg]` may not exceed `max` (a number, or CEL over
 * `params` such as `params.total`).
 */
export const SumLimitSchema = z.strictObject({
  arg: z.string().min(1).max(64),
  max: z.union([z.number().nonnegative().max(Number.MAX_SAFE_INTEGER), CelSource]),
});

/**
 * A grant: what the holder of the stage's capability may ask of one tool.
 * `where` is CEL over `args` (the action's arguments) and `params` (the sequence's).
 */
/**
 * Signals of the analysis plane a gate or grant takes as inputs: present `block`
 * signals deny (SIGNAL_BLOCKED); each `require` detector must have an active
 * signal (SIGNAL_REQUIRED). Only declared signals are ever consulted.
 */
export const SignalInputsSchema = z
  .strictObject({
    block: z.array(Identifier).max(16).default([]),
    require: z.array(Identifier).max(16).default([]),
  })
  .refine((s) => s.block.length + s.require.length > 0, { message: "declare at least one signal to block on or require" });

export const GrantSchema = z.strictObject({
  audience: Identifier.describe("tool id the capability is addressed to (`aud`)"),
  actions: z.array(z.string().min(1).max(128)).min(1).max(64),
  where: CelSource.optional(),
  uses: z.int().min(1).max(GRANT_MAX_USES).default(1),
  sum: SumLimitSchema.optional(),
  labels: z
    .array(Identifier)
    .max(16)
    .optional()
    .describe("labels of the resource the grant reaches (e.g. restricted, public), recorded in receipts for the analysis plane"),
  effect: z.enum(["read", "write"]).optional().describe("whether the grant's actions read or write that resource"),
  signals: SignalInputsSchema.optional(),
});

/**
 * One attestation a gate requires: issued by `issuer`, of `type`, and satisfying
 * `where` (CEL over `attestation` — its claims — and `params`).
 */
export const AttestationRequirementSchema = z.strictObject({
  issuer: Identifier,
  type: z.string().min(1).max(128),
  where: CelSource.optional(),
  max_age_seconds: z.int().min(1).max(ATTESTATION_MAX_AGE_SECONDS).default(ATTESTATION_DEFAULT_MAX_AGE_SECONDS),
});

/**
 * k of n people of `group` must approve. By default neither the sequence's subject
 * nor the orchestrator that started it counts (separation of duties).
 */
export const ApprovalRequirementSchema = z.strictObject({
  group: Identifier,
  count: z.int().min(1).max(GATE_MAX_APPROVALS),
  exclude_subject: z.boolean().default(true),
  exclude_orchestrator: z.boolean().default(true),
  max_age_seconds: z.int().min(1).max(APPROVAL_MAX_AGE_SECONDS).default(APPROVAL_DEFAULT_MAX_AGE_SECONDS),
});

/**
 * The evidence that must be accepted before a stage opens (or before the sequence
 * completes): attestations first, then, when required, approvals of exactly that evidence.
 */
/** A tool's report that an action it performed in this stage succeeded (`POST /v1/outcomes`). */
export const OutcomeRequirementSchema = z.strictObject({
  tool: Identifier,
  action: z.string().min(1).max(128),
});

export const GateSchema = z
  .strictObject({
    attestations: z.array(AttestationRequirementSchema).max(GATE_MAX_ATTESTATIONS).default([]),
    outcomes: z.array(OutcomeRequirementSchema).max(GATE_MAX_ATTESTATIONS).default([]),
    approvals: ApprovalRequirementSchema.optional(),
    signals: SignalInputsSchema.optional(),
  })
  .refine((gate) => gate.attestations.length > 0 || gate.outcomes.length > 0 || gate.approvals !== undefined, {
    message: "a gate needs at least one attestation, outcome or approvals",
  });

export const StageSchema = z.strictObject({
  id: Identifier,
  description: z.string().max(500).optional(),
  gate: GateSchema.optional(),
  grants: z.array(GrantSchema).min(1).max(STAGE_MAX_GRANTS),
  ttl_seconds: z.int().min(1).max(CAPABILITY_MAX_TTL_SECONDS).default(CAPABILITY_DEFAULT_TTL_SECONDS),
  max_reissues: z.int().min(0).max(CAPABILITY_MAX_REISSUES).default(CAPABILITY_DEFAULT_MAX_REISSUES),
});

/**
 * How the last stage completes and the sequence seals:
 * - `last_use`: when every grant of the last stage has used all its uses;
 * - `attestations`: when the given gate is satisfied by evidence for the last stage.
 */
export const CompletionSchema = z.discriminatedUnion("on", [
  z.strictObject({ on: z.literal("last_use") }),
  z.strictObject({ on: z.literal("attestations"), gate: GateSchema }),
]);

/** A JSON Schema object for the sequence parameters (validated with zod's JSON Schema import). */
const ParamsJsonSchema = z
  .looseObject({ type: z.literal("object") })
  .describe("JSON Schema (type object) of the sequence parameters");

export const WorkflowSchema = z
  .strictObject({
    id: Identifier,
    description: z.string().max(1000).optional(),
    params: ParamsJsonSchema,
    stages: z.array(StageSchema).min(1).max(WORKFLOW_MAX_STAGES),
    complete: CompletionSchema.default({ on: "last_use" }),
    max_delegation_depth: z
      .int()
      .min(1)
      .max(DELEGATION_MAX_DEPTH)
      .default(DELEGATION_DEFAULT_DEPTH)
      .describe("how deep `act` may nest: 1 = the actor only; 2 = the actor may delegate once"),
    sender_constrained: z
      .boolean()
      .default(false)
      .describe("capabilities are bound to the actor's key (cnf.jkt); the gate requires a DPoP proof"),
    clock_skew_seconds: z
      .int()
      .min(0)
      .max(CLOCK_SKEW_MAX_SECONDS)
      .default(CLOCK_SKEW_MAX_SECONDS)
      .describe("tolerance on exp/nbf/iat; part of the version, so replay uses the same value"),
  })
  .superRefine((workflow, ctx) => {
    const seen = new Set<string>();
    workflow.stages.forEach((stage, index) => {
      if (seen.has(stage.id)) {
        ctx.addIssue({ code: "custom", path: ["stages", index, "id"], message: `duplicate stage id "${stage.id}"` });
      }
      seen.add(stage.id);
      if (index === 0 && stage.gate) {
        // The first stage opens at start, on the orchestrator's word alone.
        ctx.addIssue({ code: "custom", path: ["stages", 0, "gate"], message: "the first stage cannot have a gate" });
      }
      if (index > 0 && !stage.gate) {
        // A stage without a gate would open without evidence: the thing Baton exists to stop.
        ctx.addIssue({ code: "custom", path: ["stages", index, "gate"], message: "every stage after the first needs a gate" });
      }
      stage.grants.forEach((grant, g) => {
        // Delegation is Baton's own action: it lives alone, on the reserved audience.
        const delegates = grant.actions.includes(DELEGATE_ACTION);
        if (delegates !== (grant.audience === BATON_AUDIENCE) || (delegates && grant.actions.length > 1)) {
          ctx.addIssue({
            code: "custom",
            path: ["stages", index, "grants", g],
            message: `the ${DELEGATE_ACTION} action is granted alone, to audience ${BATON_AUDIENCE}, and nothing else is`,
          });
        }
      });
    });
  });

export type Workflow = z.output<typeof WorkflowSchema>;
export type Stage = Workflow["stages"][number];
export type Grant = Stage["grants"][number];
export type Gate = z.output<typeof GateSchema>;
export type AttestationRequirement = Gate["attestations"][number];
export type ApprovalRequirement = NonNullable<Gate["approvals"]>;
export type OutcomeRequirement = Gate["outcomes"][number];
export type SignalInputs = z.output<typeof SignalInputsSchema>;

/** Every detector id a workflow version declares as an input anywhere: the only signals the ledger fetches. */
export function declaredSignals(workflow: Workflow): string[] {
  const ids = new Set<string>();
  const add = (inputs: SignalInputs | undefined) => {
    for (const id of [...(inputs?.block ?? []), ...(inputs?.require ?? [])]) ids.add(id);
  };
  for (const stage of workflow.stages) {
    add(stage.gate?.signals);
    for (const grant of stage.grants) add(grant.signals);
  }
  if (workflow.complete.on === "attestations") add(workflow.complete.gate.signals);
  return [...ids].sort();
}
