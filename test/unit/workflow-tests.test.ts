import { describe, expect, it } from "vitest";
import deployment from "../../examples/workflows/deployment.json";
import reimbursement from "../../examples/workflows/reimbursement.json";
import release from "../../examples/workflows/release.json";
import { runWorkflowTests } from "../../src/audit/workflow-tests/run.js";
import { WorkflowTestError, parseWorkflowTests } from "../../src/audit/workflow-tests/format.js";
import { BUNDLED_EXAMPLE_CONFIG } from "../../src/config/bundled.js";
import { type CompiledWorkflow, compileWorkflow } from "../../src/policy/compile.js";
import delegating from "../fixtures/workflows/delegating.json";

// `baton test`'s runner, inside workerd (it uses web-standard APIs only; the CLI runs it on
// Node, test/node/baton-test-cli.test.ts). The examples' own tests must pass, and the runner
// must fail — with the step, both outcomes and the deciding condition — when they are wrong.

const workflowFiles = import.meta.glob("../../examples/workflows/*.json", { eager: true, import: "default" }) as Record<string, unknown>;
const testFiles = Object.entries(workflowFiles).filter(([path]) => path.endsWith(".test.json"));

const CANARY = { service: "checkout", version: "2.4.1", percent: 10 };
const START = { params: { service: "checkout", version: "2.4.1" } };
const PASSED = { attester: "monitor", type: "canary_passed", facts: { service: "checkout", version: "2.4.1", error_rate: 0 } };

async function run(input: unknown, workflow: unknown = deployment) {
  return runWorkflowTests(parseWorkflowTests(input), await compileWorkflow(workflow));
}

/** The issues of a file that must not validate, as `path: message` lines. */
async function issues(input: unknown, workflow: unknown = deployment): Promise<string[]> {
  try {
    await run(input, workflow);
  } catch (error) {
    if (error instanceof WorkflowTestError) return error.message.split("\n");
    throw error;
  }
  throw new Error("the file validated");
}

describe("the bundled examples' tests", () => {
  it("every bundled workflow ships a test file beside it", () => {
    const tested = testFiles.map(([path]) => path.replace(/^.*\//, "").replace(/\.test\.json$/, ""));
    expect(tested.sort()).toEqual(BUNDLED_EXAMPLE_CONFIG.workflows.map((w) => w.id).sort());
  });

  for (const [path, input] of testFiles) {
    it(`${path.replace(/^.*\//, "")} passes`, async () => {
      const id = path.replace(/^.*\//, "").replace(/\.test\.json$/, "");
      const workflow = workflowFiles[path.replace(/\.test\.json$/, ".json")];
      const result = await run(input, workflow);
      const failures = result.tests.flatMap((t) => t.steps.filter((s) => s.status !== "ok").map((s) => ({ test: t.name, ...s })));
      expect(failures).toEqual([]);
      expect(result.workflow.id).toBe(id);
      expect(result.tests.length).toBeGreaterThanOrEqual(4);
    });
  }
});

describe("a wrong expectation fails, with the step, both outcomes and the deciding condition", () => {
  it("an ALLOW expected to be refused names the grant that allowed it; the rest of the test is skipped", async () => {
    const result = await run({
      start: START,
      tests: [
        {
          name: "wrong",
          steps: [
            { name: "canary", at: "+10s", redeem: { action: "deploy.canary", args: CANARY }, expect: { decision: "DENY", code: "CONDITION_FAILED" } },
            { replay: "canary", expect: { decision: "DENY", code: "REPLAY_NONCE" } },
          ],
        },
        { name: "right", steps: [{ redeem: { action: "deploy.canary", args: CANARY }, expect: { decision: "ALLOW" } }] },
      ],
    });
    expect(result.ok).toBe(false);
    const [wrong, right] = result.tests;
    expect(wrong?.status).toBe("fail");
    expect(right?.status).toBe("ok");
    const [failed, skipped] = wrong?.steps ?? [];
    expect(failed).toMatchObject({
      step: 1,
      name: "canary",
      what: "redeem deploy.canary",
      at: "2026-01-01T00:00:10.000Z",
      status: "fail",
      mismatched: ["decision", "code"],
      expected: { decision: "DENY", code: "CONDITION_FAILED" },
      actual: { decision: "ALLOW", code: null, stage: "canary", sealed: false },
    });
    expect(failed?.actual?.decided_by).toBe(`grant 0 of stage canary (deployer: deploy.canary): ${deployment.stages[0]?.grants[0]?.where}`);
    expect(skipped).toMatchObject({ step: 2, status: "skip" });
    expect(skipped?.actual).toBeUndefined();
  });

  it("a refusal expected to be allowed names the CEL condition that was false", async () => {
    const result = await run({
      start: START,
      tests: [{ name: "t", steps: [{ redeem: { action: "deploy.canary", args: { ...CANARY, percent: 50 } }, expect: { decision: "ALLOW" } }] }],
    });
    expect(result.tests[0]?.steps[0]).toMatchObject({
      status: "fail",
      mismatched: ["decision"],
      actual: { decision: "DENY", code: "CONDITION_FAILED", decided_by: deployment.stages[0]?.grants[0]?.where },
    });
  });

  it("the right decision with the wrong code, stage or seal fails on exactly that member", async () => {
    const result = await run({
      start: START,
      tests: [
        {
          name: "t",
          steps: [
            { attestation: PASSED, expect: { decision: "ALLOW", stage: "canary" } },
          ],
        },
        { name: "u", steps: [{ redeem: { action: "deploy.canary", args: CANARY }, expect: { decision: "ALLOW", sealed: true } }] },
        { name: "v", steps: [{ redeem: { action: "deploy.rollout", args: {} }, expect: { decision: "DENY", code: "SCOPE_EXCEEDED" } }] },
      ],
    });
    expect(result.tests.map((t) => t.steps[0]?.mismatched)).toEqual([["stage"], ["sealed"], ["code"]]);
    expect(result.tests[0]?.steps[0]?.actual?.decided_by).toBe(
      `requirement 0 of the gate after canary (monitor: canary_passed): ${deployment.stages[1]?.gate?.attestations[0]?.where}`,
    );
    expect(result.tests[2]?.steps[0]?.actual?.code).toBe("SEQUENCE_VIOLATION");
  });

  it("a payment over the total names the cumulative limit", async () => {
    const params = { report: "R-1", employee: "alice", total: 100, currency: "EUR" };
    const result = await run(
      {
        start: { params },
        approvers: { fran: { groups: ["finance-managers"] } },
        tests: [
          {
            name: "t",
            steps: [
              { attestation: { attester: "expense-checker", type: "summary_complete", facts: { report: "R-1", total: 100 } }, expect: { decision: "ESCALATE" } },
              { approval: { approver: "fran" }, expect: { decision: "ALLOW", stage: "pay" } },
              { redeem: { action: "payment.send", args: { employee: "alice", currency: "EUR", amount: 101 } }, expect: { decision: "ALLOW" } },
            ],
          },
        ],
      },
      reimbursement,
    );
    expect(result.tests[0]?.steps[2]?.actual).toMatchObject({ code: "SCOPE_EXCEEDED", decided_by: "sum of args.amount <= params.total" });
  });

  it("a step that cannot be presented fails with why, not with a decision", async () => {
    const result = await run({
      start: START,
      tests: [{ name: "t", steps: [{ redeem: { action: "deploy.rollout", stage: "rollout", args: {} }, expect: { decision: "DENY", code: "SEQUENCE_VIOLATION" } }] }],
    });
    expect(result.tests[0]?.steps[0]).toMatchObject({ status: "fail", error: "no capability of stage rollout has been minted in this test" });
  });
});

describe("the tokens are real", () => {
  it("evidence is verified with the routes' checks: a key its issuer does not own, an unknown key, another sequence", async () => {
    const result = await run({
      start: START,
      attesters: { rogue: { registered: false }, ci: {} },
      tests: [
        {
          name: "t",
          steps: [
            { attestation: { ...PASSED, signed_by: "ci" }, expect: { decision: "DENY", code: "EVIDENCE_INVALID" } },
            { attestation: { ...PASSED, attester: "rogue" }, expect: { decision: "DENY", code: "EVIDENCE_INVALID" } },
            { attestation: { ...PASSED, other_sequence: true }, expect: { decision: "DENY", code: "EVIDENCE_INVALID" } },
            { attestation: PASSED, expect: { decision: "ALLOW", stage: "rollout" } },
          ],
        },
      ],
    });
    expect(result.ok).toBe(true);
    expect(result.tests[0]?.steps.map((s) => s.actual?.message)).toEqual([
      "iss monitor does not own key ci-test",
      expect.stringMatching(/key/),
      "attestation is bound to another sequence",
      "canary_passed accepted; stage rollout opened",
    ]);
  });

  it("a forged capability is refused before decide(), and changes nothing", async () => {
    const result = await run({
      start: START,
      tests: [
        {
          name: "t",
          steps: [
            { redeem: { action: "deploy.canary", forged: true, args: CANARY }, expect: { decision: "DENY", code: "TOKEN_INVALID" } },
            { redeem: { action: "deploy.canary", args: CANARY }, expect: { decision: "ALLOW" } },
          ],
        },
      ],
    });
    expect(result.ok).toBe(true);
    expect(result.tests[0]?.steps[0]?.actual).toMatchObject({ before_decide: true, message: "signature verification failed" });
  });

  it("runs are deterministic: the same file gives the same results", async () => {
    const input = testFiles.find(([path]) => path.endsWith("/incident-response.test.json"))?.[1];
    const workflow = workflowFiles["../../examples/workflows/incident-response.json"];
    expect(await run(input, workflow)).toEqual(await run(input, workflow));
  });
});

describe("delegation (the parent's decision)", () => {
  it("hands down a subset of what is left, reserves its uses, and refuses more", async () => {
    const workflow: CompiledWorkflow = await compileWorkflow(delegating);
    const result = await runWorkflowTests(
      parseWorkflowTests({
        start: { params: { limit: 50 } },
        tests: [
          {
            name: "t",
            steps: [
              { delegate: { actor: "agent:sub", grants: [{ audience: "db", actions: ["db.read"], uses: 8 }] }, expect: { decision: "ALLOW" } },
              { delegate: { actor: "agent:sub", grants: [{ audience: "db", actions: ["db.read"], uses: 3 }] }, expect: { decision: "DENY", code: "SCOPE_EXCEEDED" } },
              { delegate: { actor: "agent:sub", grants: [{ audience: "payments", actions: ["refund"], uses: 1 }] }, expect: { decision: "DENY", code: "SCOPE_EXCEEDED" } },
              { redeem: { action: "db.read", args: { rows: 10 } }, expect: { decision: "ALLOW" } },
              { redeem: { action: "db.read", args: { rows: 10 } }, expect: { decision: "ALLOW" } },
              { redeem: { action: "db.read", args: { rows: 10 } }, expect: { decision: "DENY", code: "SCOPE_EXCEEDED" } },
            ],
          },
        ],
      }),
      workflow,
    );
    expect(result.tests[0]?.steps.filter((s) => s.status !== "ok")).toEqual([]);
  });
});

describe("the format: every issue with its path", () => {
  it("the schema: a step's one action, times, codes, unknown members", async () => {
    expect(
      await issues({
        start: START,
        tests: [
          {
            name: "t",
            steps: [
              { at: "tomorrow", redeem: { action: "deploy.canary", args: [] }, expect: { decision: "DENY", code: "NOT_A_CODE" } },
              { expect: { decision: "ALLOW" } },
              { revoke: {}, reissue: {}, expect: { decision: "ALLOW", code: "REPLAY_NONCE" } },
              { redem: { action: "x" }, revoke: {}, expect: { decision: "ALLOW" } },
            ],
          },
          { name: "t", steps: [] },
        ],
      }),
    ).toEqual([
      expect.stringMatching(/^tests\[0\]\.steps\[0\]\.at: a time: ISO 8601/),
      expect.stringMatching(/^tests\[0\]\.steps\[0\]\.expect\.code: not a reason code/),
      expect.stringMatching(/^tests\[0\]\.steps\[0\]\.redeem\.args: /),
      expect.stringMatching(/^tests\[0\]\.steps\[1\]: a step does exactly one thing: give one of redeem, attestation/),
      "tests[0].steps[2].expect.code: an ALLOW carries no code",
      expect.stringMatching(/^tests\[0\]\.steps\[2\]: a step does exactly one thing: .* \(not reissue and revoke\)$/),
      'tests[0].steps[3]: Unrecognized key: "redem"',
      expect.stringMatching(/^tests\[1\]\.steps: Too small/),
    ]);
  });

  it("two tests of one name", async () => {
    const test = { name: "same", steps: [{ reissue: {}, expect: { decision: "ALLOW" } }] };
    expect(await issues({ start: START, tests: [test, test] })).toEqual(['tests[1].name: another test is named "same"']);
  });

  it("against the workflow: params, stages, references, parties, signals, time", async () => {
    expect(
      await issues({
        start: { params: { service: "checkout" } },
        approvers: { sam: { groups: ["sre"] } },
        tests: [
          {
            name: "t",
            start: { at: "+1m" },
            steps: [
              { name: "a", at: "+1m", redeem: { action: "deploy.canary", stage: "canery", args: CANARY }, expect: { decision: "ALLOW", stage: "rolout" } },
              { name: "a", replay: "b", expect: { decision: "ALLOW" } },
              { replay: 9, expect: { decision: "ALLOW" } },
              { outcome: { of: 2 }, expect: { decision: "ALLOW" } },
              { attestation: { attester: "monitr", type: "canary_passed" }, expect: { decision: "ALLOW" } },
              { approval: { approver: "sma" }, signals: [{ detector: "flow.x" }], expect: { decision: "ALLOW" } },
              { at: "2025-12-31T00:00:00Z", reissue: {}, expect: { decision: "ALLOW" } },
            ],
          },
        ],
      }),
    ).toEqual([
      "tests[0].start.at: a start time is absolute (2026-01-01T00:00:00Z)",
      expect.stringMatching(/^start\.params\.version: params do not match deployment's schema/),
      "tests[0].steps[0].redeem.stage: workflow deployment has no stage canery",
      "tests[0].steps[0].expect.stage: workflow deployment has no stage rolout",
      'tests[0].steps[1].name: another step of this test is named "a"',
      'tests[0].steps[1].replay: "b" is not an earlier step of this test',
      "tests[0].steps[2].replay: step 9 is not an earlier step of this test",
      "tests[0].steps[3].outcome.of: an outcome reports on a redeem step",
      expect.stringMatching(/^tests\[0\]\.steps\[4\]\.attestation\.attester: unknown attester monitr/),
      "tests[0].steps[5].signals[0].detector: workflow deployment declares no signal flow.x: the ledger would not consult it",
      'tests[0].steps[5].approval.approver: unknown approver sma: declare it under "approvers"',
      expect.stringMatching(/^tests\[0\]\.steps\[6\]\.at: 2025-12-31T00:00:00Z is before the previous step/),
    ]);
  });
});

describe("workload tokens: the runner plays the OIDC issuer", () => {
  const REPO = "example-org/shop";
  const SHA = "3f786850e387550fdab836ed7e6dc881de23001b";
  const RELEASE_START = { params: { repo: REPO, commit: SHA, service: "shop", version: "1.4.0" } };
  const BUILD = { redeem: { action: "ci.run_workflow", args: { repo: REPO, commit: SHA, workflow: "release.yml" } }, expect: { decision: "ALLOW" } };
  const CLAIMS = { repository: REPO, sha: SHA, ref: "refs/heads/main", job_workflow_ref: `${REPO}/.github/workflows/release.yml@refs/heads/main` };
  const token = (more: Record<string, unknown> = {}) => ({ attester: "github-actions", claims: CLAIMS, ...more });

  it("with the defaults (no declaration): the token opens the canary, and its replay is a spent jti", async () => {
    const result = await run(
      {
        start: RELEASE_START,
        tests: [
          {
            name: "t",
            steps: [BUILD, { name: "job", workload: token(), expect: { decision: "ALLOW", stage: "canary" } }, { replay: "job", expect: { decision: "DENY", code: "REPLAY_NONCE" } }],
          },
        ],
      },
      release,
    );
    expect(result.tests[0]?.steps.map((s) => [s.status, s.actual?.code])).toEqual([["ok", null], ["ok", null], ["ok", "REPLAY_NONCE"]]);
  });

  it("a wrong expectation on a workload step fails, naming the gate's CEL or the issuer's check", async () => {
    const result = await run(
      {
        start: RELEASE_START,
        attesters: { "github-actions": { workload: { issuer: "https://token.actions.githubusercontent.com", claims: { repository_owner: "example-org" } } } },
        tests: [
          { name: "branch", steps: [BUILD, { workload: token({ claims: { ...CLAIMS, repository_owner: "example-org", ref: "refs/heads/dev" } }), expect: { decision: "ALLOW" } }] },
          { name: "owner", steps: [BUILD, { workload: token(), expect: { decision: "DENY", code: "CONDITION_FAILED" } }] },
          { name: "key", steps: [BUILD, { workload: token({ claims: { ...CLAIMS, repository_owner: "example-org" }, signed_by_unknown_key: true }), expect: { decision: "ALLOW", stage: "canary" } }] },
        ],
      },
      release,
    );
    expect(result.tests.map((t) => t.status)).toEqual(["fail", "fail", "fail"]);
    expect(result.tests[0]?.steps[1]).toMatchObject({
      status: "fail",
      what: "workload token of github-actions",
      mismatched: ["decision"],
      actual: { decision: "DENY", code: "CONDITION_FAILED", decided_by: release.stages[1]?.gate?.attestations[0]?.where, stage: "build" },
    });
    expect(result.tests[1]?.steps[1]).toMatchObject({
      mismatched: ["code"],
      actual: { code: "EVIDENCE_INVALID", message: 'claim repository_owner is missing; attester github-actions requires "example-org"' },
    });
    expect(result.tests[2]?.steps[1]).toMatchObject({
      what: "workload token of github-actions signed by a key not in its issuer's set",
      mismatched: ["decision", "stage"],
      actual: { code: "EVIDENCE_INVALID", message: "unknown key id github-actions-unknown" },
    });
  });

  it("an invalid workload step, or declaration, is an issue at its path", async () => {
    expect(
      await issues(
        {
          start: RELEASE_START,
          attesters: { monitor: { workload: {} }, "github-actions": { workload: { issuer: "not a url", algorithms: ["HS256"] } } },
          tests: [
            {
              name: "t",
              steps: [
                { workload: { attester: "github-actions", claims: { aud: "x", jti: "j" }, exp: "soon" }, expect: { decision: "ALLOW" } },
                { workload: { attester: "github-actions", stage: "canary" }, expect: { decision: "ALLOW" } },
              ],
            },
          ],
        },
        release,
      ),
    ).toEqual([
      expect.stringMatching(/^attesters\.github-actions\.workload\.issuer: /),
      expect.stringMatching(/^attesters\.github-actions\.workload\.algorithms\[0\]: /),
      "tests[0].steps[0].workload.claims.aud: aud is set by the runner (iat/nbf/exp, audience, other_sequence are the step's members)",
      expect.stringMatching(/^tests\[0\]\.steps\[0\]\.workload\.claims\.jti: jti is set by the runner/),
      expect.stringMatching(/^tests\[0\]\.steps\[0\]\.workload\.exp: a time/),
      'tests[0].steps[1].workload: Unrecognized key: "stage"',
    ]);
    expect(
      await issues(
        { start: RELEASE_START, attesters: { monitor: { workload: {} } }, tests: [{ name: "t", steps: [{ workload: { attester: "ci" }, expect: { decision: "ALLOW" } }] }] },
        release,
      ),
    ).toEqual([
      "attesters.monitor.workload: workflow release takes canary_passed from monitor: an attester declared by issuer gives only workload_identity",
      'tests[0].steps[0].workload.attester: attester ci is not declared by issuer: no gate takes workload_identity from it; declare it under "attesters" with "workload"',
    ]);
  });
});
