import type { CompiledWorkflow } from "../../policy/compile.js";
import type { Expectation, StepAction, WorkflowTests } from "./format.js";
import { createTestKeys } from "./keys.js";
import { type PlannedStep, planTests } from "./plan.js";
import { type Answer, StepError, TestSequence } from "./sequence.js";

export type { Answer } from "./sequence.js";

/** One step's verdict. `skip`: an earlier step of its test failed, so the history it assumes never happened. */
export interface StepResult {
  /** 1-based, as the file's step references count. */
  step: number;
  name?: string;
  /** What the step does, e.g. `redeem deploy.canary`. */
  what: string;
  /** ISO 8601. */
  at: string;
  status: "ok" | "fail" | "skip";
  expected: Expectation;
  actual?: Answer;
  /** The members of `expected` that `actual` does not meet. */
  mismatched?: (keyof Expectation)[];
  /** Why the step could not be run as written (then there is no `actual`). */
  error?: string;
}

export interface TestResult {
  name: string;
  status: "ok" | "fail";
  /** When the test's sequence started (ISO 8601): the steps' times count from it. */
  started_at: string;
  /** Why the test could not run (its start was refused). */
  error?: string;
  steps: StepResult[];
}

export interface WorkflowTestsResult {
  workflow: { id: string; hash: string };
  ok: boolean;
  tests: TestResult[];
}

/**
 * Runs a workflow's tests (parsed by `parseWorkflowTests`) offline: each test starts its own sequence and sends its steps,
 * at their declared times, through the Worker's own `decide()` — real tokens signed with
 * throwaway keys and verified by the routes' checks, the state folded as the ledger folds
 * it — and compares each decision with the one expected. Deterministic: no clock, no
 * server. Throws WorkflowTestError (every issue with its path) when the file does not
 * validate or does not fit the workflow.
 */
export async function runWorkflowTests(file: WorkflowTests, workflow: CompiledWorkflow): Promise<WorkflowTestsResult> {
  const plans = planTests(file, workflow);
  const keys = await createTestKeys(file, workflow);
  const tests: TestResult[] = [];
  for (const [t, plan] of plans.entries()) {
    const sequence = new TestSequence(workflow, keys, `seq-${t + 1}`);
    const started = await sequence.start(plan.start);
    const steps: StepResult[] = [];
    let failed = started.decision !== "ALLOW";
    for (const step of plan.steps) {
      const base = { step: step.index + 1, ...(step.name ? { name: step.name } : {}), what: describe(step, plan.steps), at: new Date(step.at).toISOString(), expected: step.expect };
      if (failed) {
        steps.push({ ...base, status: "skip" });
        continue;
      }
      const result = await runStep(sequence, step, base);
      failed = result.status === "fail";
      steps.push(result);
    }
    tests.push({
      name: plan.name,
      status: failed || steps.some((s) => s.status !== "ok") ? "fail" : "ok",
      started_at: new Date(plan.start.at).toISOString(),
      ...(started.decision === "ALLOW" ? {} : { error: `the start was refused: ${started.code} ${started.message}` }),
      steps,
    });
  }
  return { workflow: { id: workflow.id, hash: workflow.hash }, ok: tests.every((t) => t.status === "ok"), tests };
}

async function runStep(sequence: TestSequence, step: PlannedStep, base: Omit<StepResult, "status">): Promise<StepResult> {
  let actual: Answer;
  try {
    actual = await sequence.step(step);
  } catch (error) {
    if (!(error instanceof StepError)) throw error;
    return { ...base, status: "fail", error: error.message };
  }
  const mismatched = mismatches(step.expect, actual);
  return { ...base, status: mismatched.length === 0 ? "ok" : "fail", actual, ...(mismatched.length ? { mismatched } : {}) };
}

/** The members of the expectation the answer does not meet; a code left out is not compared. */
export function mismatches(expected: Expectation, actual: Answer): (keyof Expectation)[] {
  const found: (keyof Expectation)[] = [];
  if (expected.decision !== actual.decision) found.push("decision");
  if (expected.code !== undefined && expected.code !== actual.code) found.push("code");
  if (expected.stage !== undefined && expected.stage !== actual.stage) found.push("stage");
  if (expected.sealed !== undefined && expected.sealed !== actual.sealed) found.push("sealed");
  return found;
}

function describe(step: PlannedStep, steps: readonly PlannedStep[]): string {
  const { action } = step;
  if (action.kind === "replay") {
    const original = steps[step.ref ?? -1];
    return `replay of step ${(step.ref ?? -1) + 1}${original ? ` (${describeAction(original.action)})` : ""}`;
  }
  return describeAction(action);
}

function describeAction(action: StepAction): string {
  switch (action.kind) {
    case "redeem": {
      const { value } = action;
      return `redeem ${value.action}${value.stage ? ` with the ${value.stage} capability` : ""}${value.forged ? " (forged)" : ""}`;
    }
    case "attestation":
      return `attestation ${action.value.type} by ${action.value.attester}${action.value.signed_by ? ` signed by ${action.value.signed_by}` : ""}`;
    case "workload":
      return `workload token of ${action.value.attester}${action.value.signed_by_unknown_key ? " signed by a key not in its issuer's set" : ""}`;
    case "approval":
      return `${action.value.decision === "reject" ? "rejection" : "approval"} by ${action.value.approver}${action.value.signed_by ? ` signed by ${action.value.signed_by}` : ""}`;
    case "outcome":
      return `outcome ${action.value.result} of step ${action.value.of}`;
    case "delegate":
      return `delegate to ${action.value.actor}`;
    case "reissue":
      return "reissue";
    case "revoke":
      return "revoke";
    case "replay":
      return "replay";
  }
}
