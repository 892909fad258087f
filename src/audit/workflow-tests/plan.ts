import type { CompiledWorkflow } from "../../policy/compile.js";
import { declaredSignals } from "../../policy/workflow-schema.js";
import { WORKLOAD_TOKEN_TYPE } from "../../tokens/kinds.js";
import { type Expectation, type SignalStep, type Start, type StepAction, WorkflowTestError, type WorkflowTestIssue, type WorkflowTests } from "./format.js";
import { parseTime, timeFrom } from "./times.js";
import { workloadAttesters } from "./workload.js";

// What a valid test file means for one workflow: every time resolved, every reference to an
// earlier step bound, every stage, attester and approver it names checked against the
// workflow and the file, so a typo is an error with its path, not a surprising decision.

/** When a file gives no start time: a fixed instant, so runs never depend on the clock. */
export const DEFAULT_START = "2026-01-01T00:00:00Z";
/** Who a sequence is for, who runs it and who started it, when the file does not say. */
export const DEFAULT_PARTIES = { subject: "user:subject", actor: "agent:actor", orchestrator: "orchestrator" } as const;

export interface PlannedStart {
  at: number;
  params: Record<string, unknown>;
  subject: string;
  actor: string;
  orchestrator: string;
}

export interface PlannedStep {
  /** 0-based; steps are shown 1-based. */
  index: number;
  name: string | undefined;
  at: number;
  signals: SignalStep[];
  expect: Expectation;
  action: StepAction;
  /** The earlier step a replay or an outcome refers to (0-based). */
  ref: number | undefined;
}

export interface PlannedTest {
  name: string;
  start: PlannedStart;
  steps: PlannedStep[];
}

/** The attesters whose keys Baton knows: those the workflow's gates name, and those the file registers. */
export function registeredAttesters(file: WorkflowTests, workflow: CompiledWorkflow): Set<string> {
  const named = workflow.gates.flatMap((gate) => gate?.attestations.map((a) => a.requirement.issuer) ?? []);
  const declared = Object.entries(file.attesters).filter(([, a]) => a.registered).map(([id]) => id);
  return new Set([...named, ...declared]);
}

/** Resolves a parsed file against its workflow, or throws every issue found with its path. */
export function planTests(file: WorkflowTests, workflow: CompiledWorkflow): PlannedTest[] {
  const issues: WorkflowTestIssue[] = [];
  const stageIds = new Set(workflow.definition.stages.map((s) => s.id));
  const attesters = new Set([...registeredAttesters(file, workflow), ...Object.keys(file.attesters)]);
  const approvers = new Set(Object.keys(file.approvers));
  const detectors = new Set(declaredSignals(workflow.definition));
  const byIssuer = workloadAttesters(file, workflow);
  // As the configuration refuses it: an attester declared by issuer gives workload tokens only.
  for (const gate of workflow.gates) {
    for (const { requirement } of gate?.attestations ?? []) {
      if (requirement.type !== WORKLOAD_TOKEN_TYPE && file.attesters[requirement.issuer]?.workload) {
        const message = `workflow ${workflow.id} takes ${requirement.type} from ${requirement.issuer}: an attester declared by issuer gives only ${WORKLOAD_TOKEN_TYPE}`;
        issues.push({ path: ["attesters", requirement.issuer, "workload"], message });
      }
    }
  }

  const plans = file.tests.map((test, t): PlannedTest => {
    const path = ["tests", t];
    const start = plannedStart(file.start, test.start, workflow, path, issues);
    let previous = start.at;
    const names = new Map<string, number>();
    const kinds: StepAction["kind"][] = [];
    const steps = test.steps.map((step, s): PlannedStep => {
      const here = [...path, "steps", s];
      const issue = (where: (string | number)[], message: string) => issues.push({ path: [...here, ...where], message });
      let at = previous;
      if (step.at !== undefined) {
        const spec = parseTime(step.at);
        at = timeFrom(step.at, previous);
        if (spec && "offset" in spec && spec.offset < 0) issue(["at"], "a step's time is an offset forward (+…) from the previous step, or an absolute time");
        else if (at < previous) issue(["at"], `${step.at} is before the previous step (${new Date(previous).toISOString()}): time only moves forward`);
      }
      previous = at;
      if (step.name !== undefined) {
        if (names.has(step.name)) issue(["name"], `another step of this test is named "${step.name}"`);
        names.set(step.name, s);
      }
      step.signals.forEach((signal, i) => {
        if (!detectors.has(signal.detector)) issue(["signals", i, "detector"], `workflow ${workflow.id} declares no signal ${signal.detector}: the ledger would not consult it`);
      });
      const { action } = step;
      const stage = (value: { stage?: string | undefined }, where: string) => {
        if (value.stage !== undefined && !stageIds.has(value.stage)) issue([where, "stage"], `workflow ${workflow.id} has no stage ${value.stage}`);
      };
      let ref: number | undefined;
      const resolve = (target: string | number, where: (string | number)[]) => {
        const found = typeof target === "number" ? target - 1 : names.get(target);
        if (found === undefined || found >= s || found < 0) {
          issue(where, `${typeof target === "number" ? `step ${target}` : `"${target}"`} is not an earlier step of this test`);
          return undefined;
        }
        return found;
      };
      switch (action.kind) {
        case "redeem":
          stage(action.value, "redeem");
          break;
        case "delegate":
          stage(action.value, "delegate");
          break;
        case "attestation": {
          const { attester, signed_by } = action.value;
          stage(action.value, "attestation");
          if (!attesters.has(attester)) issue(["attestation", "attester"], `unknown attester ${attester}: the workflow's gates do not name it; declare it under "attesters"`);
          if (signed_by !== undefined && !attesters.has(signed_by)) issue(["attestation", "signed_by"], `unknown attester ${signed_by}`);
          break;
        }
        case "workload":
          if (!byIssuer.has(action.value.attester)) {
            issue(["workload", "attester"], `attester ${action.value.attester} is not declared by issuer: no gate takes ${WORKLOAD_TOKEN_TYPE} from it; declare it under "attesters" with "workload"`);
          }
          break;
        case "approval": {
          const { approver, signed_by } = action.value;
          stage(action.value, "approval");
          if (!approvers.has(approver)) issue(["approval", "approver"], `unknown approver ${approver}: declare it under "approvers"`);
          if (signed_by !== undefined && !approvers.has(signed_by)) issue(["approval", "signed_by"], `unknown approver ${signed_by}`);
          break;
        }
        case "outcome":
          ref = resolve(action.value.of, ["outcome", "of"]);
          if (ref !== undefined && kinds[ref] !== "redeem") issue(["outcome", "of"], "an outcome reports on a redeem step");
          break;
        case "replay":
          ref = resolve(action.value, ["replay"]);
          break;
      }
      // A replay presents what its step presented, so it counts as that kind of step.
      kinds.push(action.kind === "replay" && ref !== undefined ? (kinds[ref] ?? "replay") : action.kind);
      if (step.expect.stage !== undefined && !stageIds.has(step.expect.stage)) issue(["expect", "stage"], `workflow ${workflow.id} has no stage ${step.expect.stage}`);
      return { index: s, name: step.name, at, signals: step.signals, expect: step.expect, action, ref };
    });
    return { name: test.name, start, steps };
  });
  if (issues.length > 0) throw new WorkflowTestError(issues);
  return plans;
}

function plannedStart(
  fileStart: Start | undefined,
  testStart: Start | undefined,
  workflow: CompiledWorkflow,
  path: (string | number)[],
  issues: WorkflowTestIssue[],
): PlannedStart {
  const merged = { ...fileStart, ...testStart };
  // An issue belongs where the value came from: the test's own start, or the file's.
  const from = (key: keyof Start) => (testStart?.[key] !== undefined ? [...path, "start", key] : ["start", key]);
  const atText = merged.at ?? DEFAULT_START;
  const spec = parseTime(atText);
  let at = Date.parse(DEFAULT_START);
  if (spec && "at" in spec) at = spec.at;
  else issues.push({ path: from("at"), message: "a start time is absolute (2026-01-01T00:00:00Z)" });
  let params: Record<string, unknown> = {};
  if (merged.params === undefined) {
    issues.push({ path: [...path, "start", "params"], message: `the sequence's params are required (in the file's start or the test's), by ${workflow.id}'s schema` });
  } else {
    const parsed = workflow.params.safeParse(merged.params);
    if (parsed.success) params = parsed.data as Record<string, unknown>;
    else {
      for (const problem of parsed.error.issues) {
        issues.push({ path: [...from("params"), ...(problem.path as (string | number)[])], message: `params do not match ${workflow.id}'s schema: ${problem.message}` });
      }
    }
  }
  return {
    at,
    params,
    subject: merged.subject ?? DEFAULT_PARTIES.subject,
    actor: merged.actor ?? DEFAULT_PARTIES.actor,
    orchestrator: merged.orchestrator ?? DEFAULT_PARTIES.orchestrator,
  };
}
