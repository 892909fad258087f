import { z } from "zod";
import { REASON_CODES, type ReasonCode } from "../../errors.js";
import { formatPath } from "../../policy/compile.js";
import { WORKLOAD_ALGORITHMS } from "../../tokens/oidc-issuer.js";
import { isTime } from "./times.js";

// The format of a workflow's test file (`<workflow>.test.json` beside the workflow), the one
// workflow authors write: a history of requests, each with its time and what it presents,
// and the decision expected of it. Tokens and evidence are described, never pasted: the
// runner signs real ones with throwaway keys. Documented in the README ("Test a workflow").

/** A time: ISO 8601 with a zone (`2026-01-01T00:00:10Z`), or an offset (`+10s`, `+5m`, `-1h30m`). */
const Time = z.string().refine(isTime, "a time: ISO 8601 with a zone (2026-01-01T00:00:10Z) or an offset such as +10s, +5m, -1h30m");
/** An earlier step of the same test: its `name`, or its number (1 is the first step). */
const StepRef = z.union([z.string().min(1), z.int().min(1)]);
const Name = z.string().min(1).max(128);
const JsonObject = z.record(z.string(), z.unknown());
const Comment = z.string().optional();

const Expectation = z
  .strictObject({
    decision: z.enum(["ALLOW", "DENY", "ESCALATE"]),
    code: z.enum(REASON_CODES as [ReasonCode, ...ReasonCode[]], { error: "not a reason code of Baton's table (SEQUENCE_VIOLATION, REPLAY_NONCE, …)" }).optional(),
    /** The current stage once the step is decided. */
    stage: Name.optional(),
    /** Whether the sequence is sealed once the step is decided. */
    sealed: z.boolean().optional(),
  })
  .superRefine((expect, ctx) => {
    if (expect.decision === "ALLOW" && expect.code !== undefined) ctx.addIssue({ code: "custom", path: ["code"], message: "an ALLOW carries no code" });
    if (expect.decision === "ESCALATE" && expect.code !== undefined && expect.code !== "APPROVAL_REQUIRED") {
      ctx.addIssue({ code: "custom", path: ["code"], message: "an ESCALATE's code is APPROVAL_REQUIRED" });
    }
  });
export type Expectation = z.output<typeof Expectation>;

/** How the agent proves it holds a sender-constrained capability: its own key (default), no proof, or a thief's key. */
const Dpop = z.enum(["none", "other-key"]);

const Redeem = z.strictObject({
  action: Name,
  args: JsonObject.default({}),
  /** The tool that redeems; by default the one the workflow grants the action to. */
  tool: Name.optional(),
  /** Present the capability last minted for this stage (default: the current capability). */
  stage: Name.optional(),
  /** A capability with the right claims signed by a key that is not Baton's. */
  forged: z.boolean().default(false),
  dpop: Dpop.optional(),
});

const Attestation = z.strictObject({
  attester: Name,
  type: Name,
  facts: JsonObject.default({}),
  /** The stage it attests (default: the current one). */
  stage: Name.optional(),
  /** Its `iat` (default: the step's time) and `exp`; offsets count from the step's time. */
  iat: Time.optional(),
  exp: Time.optional(),
  /** Bound to another sequence. */
  other_sequence: z.boolean().default(false),
  /** Signed with another attester's key (the claims still name `attester`). */
  signed_by: Name.optional(),
});

/** What the runner sets on a workload token itself: the file says them through the step's other members. */
const RUNNER_CLAIMS = ["iss", "aud", "iat", "nbf", "exp", "jti"] as const;

/** A workload token (a GitHub Actions OIDC token…), signed as its issuer would sign it. */
const Workload = z.strictObject({
  attester: Name,
  /** The token's own claims (`repository`, `sha`, `ref`, `job_workflow_ref`, `sub`…): what the gate's CEL reads. */
  claims: JsonObject.default({}).superRefine((claims, ctx) => {
    for (const name of RUNNER_CLAIMS) {
      if (name in claims) ctx.addIssue({ code: "custom", path: [name], message: `${name} is set by the runner (iat/nbf/exp, audience, other_sequence are the step's members)` });
    }
  }),
  /** Its `iat` (default: the step's time), `nbf` (default: its iat) and `exp` (default: five minutes after its iat). */
  iat: Time.optional(),
  nbf: Time.optional(),
  exp: Time.optional(),
  /** For another sequence: the audience names `<sequence>-other`. */
  other_sequence: z.boolean().default(false),
  /** The whole `aud`, instead of this sequence's URL under the attester's audience. */
  audience: z.string().min(1).max(512).optional(),
  /** Signed with a key that is not in the issuer's key set. */
  signed_by_unknown_key: z.boolean().default(false),
});

const Approval = z.strictObject({
  approver: Name,
  decision: z.enum(["approve", "reject"]).default("approve"),
  comment: z.string().max(500).optional(),
  stage: Name.optional(),
  iat: Time.optional(),
  exp: Time.optional(),
  other_sequence: z.boolean().default(false),
  signed_by: Name.optional(),
});

const Outcome = z.strictObject({
  /** The allowed redeem step the tool reports on. */
  of: StepRef,
  result: z.enum(["succeeded", "failed", "unknown"]).default("succeeded"),
  detail: z.string().max(500).optional(),
});

const DelegatedGrant = z.strictObject({
  audience: Name,
  actions: z.array(Name).min(1),
  uses: z.int().min(1),
  where: z.string().min(1).optional(),
});

const Delegate = z.strictObject({
  actor: Name,
  grants: z.array(DelegatedGrant).min(1),
  stage: Name.optional(),
  dpop: Dpop.optional(),
});

/** The active signals the ledger reads for this decision (only detectors the workflow declares count). */
const Signal = z.strictObject({
  detector: Name,
  version: z.int().min(1).default(1),
  severity: z.string().min(1).max(32).default("high"),
  /** Default: an hour after the step. */
  expires_at: Time.optional(),
});

/** What a step does: exactly one of these members. */
const ACTIONS = {
  redeem: Redeem,
  attestation: Attestation,
  workload: Workload,
  approval: Approval,
  outcome: Outcome,
  delegate: Delegate,
  reissue: z.strictObject({}),
  revoke: z.strictObject({ reason: z.string().min(1).max(500).default("revoked by the test") }),
  /** The very request of an earlier step again: the same tokens, proofs and jtis. */
  replay: StepRef,
} as const;
type ActionKind = keyof typeof ACTIONS;
const ACTION_KINDS = Object.keys(ACTIONS) as ActionKind[];

export type StepAction = { [K in ActionKind]: { kind: K; value: z.output<(typeof ACTIONS)[K]> } }[ActionKind];
export type RedeemStep = z.output<typeof Redeem>;
export type AttestationStep = z.output<typeof Attestation>;
export type WorkloadStep = z.output<typeof Workload>;
export type ApprovalStep = z.output<typeof Approval>;
export type DelegateStep = z.output<typeof Delegate>;
export type SignalStep = z.output<typeof Signal>;

const Step = z
  .strictObject({
    "//": Comment,
    name: Name.optional(),
    /** When the request arrives: absolute, or an offset from the previous step (default: the same time). */
    at: Time.optional(),
    signals: z.array(Signal).max(16).default([]),
    expect: Expectation,
    ...Object.fromEntries(ACTION_KINDS.map((kind) => [kind, ACTIONS[kind].optional()])),
  } as { [K in ActionKind]: z.ZodOptional<(typeof ACTIONS)[K]> } & {
    "//": typeof Comment;
    name: z.ZodOptional<typeof Name>;
    at: z.ZodOptional<typeof Time>;
    signals: z.ZodDefault<z.ZodArray<typeof Signal>>;
    expect: typeof Expectation;
  })
  .superRefine((step, ctx) => {
    const given = ACTION_KINDS.filter((kind) => step[kind] !== undefined);
    if (given.length !== 1) {
      ctx.addIssue({ code: "custom", message: `a step does exactly one thing: give one of ${ACTION_KINDS.join(", ")}${given.length ? ` (not ${given.join(" and ")})` : ""}` });
    }
  })
  .transform((step) => {
    const kind = ACTION_KINDS.find((k) => step[k] !== undefined) as ActionKind;
    return {
      name: step.name,
      at: step.at,
      signals: step.signals,
      expect: step.expect,
      action: { kind, value: step[kind] } as StepAction,
    };
  });
export type Step = z.output<typeof Step>;

/**
 * An attester declared by OIDC issuer, as the deployment's configuration declares it. Every
 * member has a default (workload.ts), so a workflow's workload_identity attester needs none.
 */
const WorkloadIssuerSettings = z.strictObject({
  issuer: z.url({ protocol: /^https?$/ }).max(256).optional(),
  audience: z.string().min(1).max(512).optional(),
  claims: z.record(z.string().min(1).max(128), z.union([z.string(), z.number(), z.boolean()])).optional(),
  algorithms: z.array(z.enum(WORKLOAD_ALGORITHMS)).min(1).max(WORKLOAD_ALGORITHMS.length).optional(),
});
export type WorkloadIssuerSettings = z.output<typeof WorkloadIssuerSettings>;

/** The sequence each test starts: who, for whom, with which parameters, when. */
const Start = z.strictObject({
  at: Time.optional(),
  params: JsonObject.optional(),
  subject: Name.optional(),
  actor: Name.optional(),
  orchestrator: Name.optional(),
});
export type Start = z.output<typeof Start>;

const Test = z.strictObject({
  "//": Comment,
  name: Name,
  /** Overrides the file's `start`, member by member. */
  start: Start.optional(),
  steps: z.array(Step).min(1).max(1000),
});
export type Test = z.output<typeof Test>;

export const WorkflowTestsSchema = z
  .strictObject({
    "//": Comment,
    /** The workflow's id; by default the file's name without `.test.json`. */
    workflow: Name.optional(),
    start: Start.optional(),
    /**
     * Attesters besides those the workflow's gates name; `registered: false` signs with a key Baton
     * does not know; `workload` declares one by OIDC issuer, as the configuration does.
     */
    attesters: z.record(Name, z.strictObject({ registered: z.boolean().default(true), workload: WorkloadIssuerSettings.optional() })).default({}),
    approvers: z
      .record(
        Name,
        z.strictObject({
          groups: z.array(Name).default([]),
          /** How the approver appears as a sequence's subject (separation of duties). */
          subject: Name.optional(),
          registered: z.boolean().default(true),
        }),
      )
      .default({}),
    tests: z.array(Test).min(1),
  })
  .superRefine((file, ctx) => {
    const names = new Set<string>();
    file.tests.forEach((test, i) => {
      if (names.has(test.name)) ctx.addIssue({ code: "custom", path: ["tests", i, "name"], message: `another test is named "${test.name}"` });
      names.add(test.name);
    });
  });
export type WorkflowTests = z.output<typeof WorkflowTestsSchema>;

export interface WorkflowTestIssue {
  path: (string | number)[];
  message: string;
}

/** A test file that does not validate, or does not fit its workflow: every issue with its path. */
export class WorkflowTestError extends Error {
  override readonly name = "WorkflowTestError";
  constructor(readonly issues: WorkflowTestIssue[]) {
    super(issues.map((issue) => `${formatPath(issue.path) || "(file)"}: ${issue.message}`).join("\n"));
  }
}

/** Validates a test file's JSON, with every issue at its path (`tests[0].steps[2].redeem.action`). */
export function parseWorkflowTests(input: unknown): WorkflowTests {
  const parsed = WorkflowTestsSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw new WorkflowTestError(parsed.error.issues.map((issue) => ({ path: issue.path as (string | number)[], message: issue.message })));
}
