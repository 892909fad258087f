import { describe, expect, it } from "vitest";
import deployment from "../../examples/workflows/deployment.json";
import stricter from "../../examples/whatif/stricter/deployment.json";
import { BUNDLED_EXAMPLE_CONFIG } from "../../src/config/bundled.js";
import { ConfigError, parseConfig } from "../../src/config/load.js";
import { compileWorkflow } from "../../src/policy/compile.js";
import { decide } from "../../src/policy/decide.js";
import { initialState } from "../../src/policy/fold.js";
import { rebindRequest } from "../../src/policy/rebind.js";
import { decidingCondition, flipOf, shadowDecision } from "../../src/policy/shadow.js";
import type { CapabilityClaims, LedgerRequest, LedgerState } from "../../src/policy/types.js";

// shadowDecision() with a fixed `now`: the candidate gets the enforced version's state, request
// and time, and nothing it does (not compiling, throwing) can escape as an exception.
const NOW = Date.UTC(2026, 10, 22, 12, 0, 0);
const NOW_S = NOW / 1000;
const PARAMS = { service: "checkout", version: "2.4.1" };
const enforced = await compileWorkflow(deployment);
const candidate = await compileWorkflow(stricter);

const state: LedgerState = {
  ...initialState(
    { seq: "seq-1", workflowId: "deployment", workflow: enforced.hash, params: PARAMS, subject: "user:alice", actor: "agent-7", orchestrator: "orchestrator", createdAt: NOW - 1000 },
    () => false,
  ),
  capability: { jti: "cap-1", exp: NOW_S + 600, reissues: 0 },
};

const token: CapabilityClaims = {
  iss: "https://baton.test", sub: "user:alice", act: { sub: "agent-7" }, aud: ["deployer"], iat: NOW_S - 10, nbf: NOW_S - 10, exp: NOW_S + 600,
  jti: "cap-1", seq: "seq-1", stage: "canary", workflow: enforced.hash, receipt: "r0", authorization_details: [], evidence: null,
};
const canary = (percent: number): LedgerRequest => ({ kind: "redeem", tool: "deployer", action: "deploy.canary", args: { ...PARAMS, percent }, token, tokenDigest: "d" });

async function shadowOf(request: LedgerRequest, under: Parameters<typeof shadowDecision>[0] = candidate) {
  const outcome = decide(enforced, state, request, NOW);
  return { outcome, shadow: await shadowDecision(under, { enforced, state, request, now: NOW, outcome }) };
}

describe("shadowDecision", () => {
  it("agrees where the versions agree, and names both sides' conditions where they do not", async () => {
    expect((await shadowOf(canary(1))).shadow).toEqual({ candidate: candidate.hash, decision: "ALLOW", code: null, flip: null });
    const { outcome, shadow } = await shadowOf(canary(5));
    expect(outcome.decision).toBe("ALLOW");
    expect(shadow).toEqual({
      candidate: candidate.hash,
      decision: "DENY",
      code: "CONDITION_FAILED",
      flip: "decision",
      message: expect.any(String),
      condition: "args.service == params.service && args.version == params.version && args.percent <= 2",
      enforced_condition: "args.service == params.service && args.version == params.version && args.percent <= 10",
    });
  });

  it("decides the request as the enforced version saw it: its token, re-bound, is not a token of another version", async () => {
    // Without re-binding the candidate would refuse every capability (TOKEN_INVALID): the flip would be the binding's, not the policy's.
    expect(decide(candidate, state, canary(1), NOW).code).toBe("TOKEN_INVALID");
    expect(rebindRequest(canary(1), candidate, { digest: null })).toMatchObject({ token: { workflow: candidate.hash } });
  });

  it("a candidate that does not compile, or whose decision throws, is an error and never an exception", async () => {
    expect((await shadowOf(canary(1), { broken: "stages[0].grants[0].where: CEL parse error" })).shadow).toEqual({
      candidate: null,
      flip: "error",
      error: "the candidate does not compile: stages[0].grants[0].where: CEL parse error",
    });
    const throwing = Object.defineProperty({ ...candidate }, "grants", { get: () => { throw new RangeError("boom"); } });
    expect((await shadowOf(canary(1), throwing)).shadow).toEqual({ candidate: candidate.hash, flip: "error", error: "the candidate threw: boom" });
    const throwsAnything = Object.defineProperty({ ...candidate }, "definition", { get: () => { throw "not an Error"; } });
    expect((await shadowOf(canary(1), throwsAnything)).shadow).toMatchObject({ flip: "error", error: "the candidate threw: not an Error" });
  });

  it("re-binds an approval only when it approved exactly what the enforced gate asked", () => {
    const approval = (digest: string): LedgerRequest => ({
      kind: "approval",
      fresh: { jti: "j" },
      approval: { ok: true, kid: "k", digest: "jws", approver: { id: "fran", groups: ["g"] }, claims: { iss: "fran", seq: "seq-1", stage: "s", decision: "approve", digest, iat: 1, jti: "a" } },
    });
    const rebound = (request: LedgerRequest) => (request.kind === "approval" && request.approval.ok ? request.approval.claims.digest : null);
    expect(rebound(rebindRequest(approval("asked"), candidate, { digest: "candidate's", matched: "asked" }))).toBe("candidate's");
    expect(rebound(rebindRequest(approval("something else"), candidate, { digest: "candidate's", matched: "asked" }))).toBe("something else");
    // The what-if re-binds every approval (it has no enforced digest to compare with).
    expect(rebound(rebindRequest(approval("something else"), candidate, { digest: "candidate's" }))).toBe("candidate's");
  });
});

describe("flipOf and decidingCondition", () => {
  it("a flip is a decision or only a code", () => {
    expect(flipOf({ decision: "ALLOW", code: null }, { decision: "DENY", code: "CONDITION_FAILED" })).toBe("decision");
    expect(flipOf({ decision: "DENY", code: "REPLAY_NONCE" }, { decision: "DENY", code: "CONDITION_FAILED" })).toBe("code");
    expect(flipOf({ decision: "DENY", code: "REPLAY_NONCE" }, { decision: "DENY", code: "REPLAY_NONCE" })).toBeNull();
  });

  it("names the condition a denial names, the grant an allowed use used, and nothing where none decided", () => {
    const allowed = decide(enforced, state, canary(1), NOW);
    expect(decidingCondition(enforced, state, allowed)).toBe(deployment.stages[0]?.grants[0]?.where);
    const replayed = decide(enforced, { ...state, nonceUsed: () => true }, canary(1), NOW);
    expect([replayed.code, decidingCondition(enforced, state, replayed)]).toEqual(["REPLAY_NONCE", null]);
  });
});

describe("configuring a candidate and a promotion", () => {
  const withShadow = (extra: Record<string, unknown>) => ({ ...structuredClone(BUNDLED_EXAMPLE_CONFIG), ...extra });
  async function issuesOf(input: unknown): Promise<string[]> {
    try {
      await parseConfig(input);
    } catch (error) {
      if (error instanceof ConfigError) return error.issues.map((i) => `${i.path}: ${i.message}`);
      throw error;
    }
    return [];
  }

  it("a candidate that does not compile, or is another workflow, is the candidate's problem: the configuration loads", async () => {
    const broken = { ...structuredClone(stricter), stages: [{ ...stricter.stages[0], grants: [{ ...stricter.stages[0]?.grants[0], where: "args.(" }] }, stricter.stages[1]] };
    const config = await parseConfig(
      withShadow({ shadow: [{ workflow: "deployment", candidate: broken }, { workflow: "code-review", candidate: stricter }, { workflow: "reimbursement", candidate: 42 }] }),
    );
    expect(config.workflows.get("deployment")?.hash).toBe(enforced.hash);
    expect(config.candidates.get("deployment")).toMatchObject({ compiled: null, issues: [{ path: "shadow[0].candidate.stages[0].grants[0].where" }] });
    expect(config.candidates.get("code-review")).toMatchObject({ compiled: null, issues: [{ path: "shadow[1].candidate.id", message: "the candidate is workflow deployment, not code-review" }] });
    expect(config.candidates.get("reimbursement")?.compiled).toBeNull();
    expect((await parseConfig(withShadow({ shadow: [{ workflow: "deployment", candidate: stricter }] }))).candidates.get("deployment")?.compiled?.hash).toBe(candidate.hash);
  });

  it("which workflow a candidate or a promotion is of must be right, once each", async () => {
    expect(await issuesOf(withShadow({ shadow: [{ workflow: "nope", candidate: stricter }] }))).toEqual(["shadow[0].workflow: unknown workflow nope"]);
    expect(await issuesOf(withShadow({ shadow: [{ workflow: "deployment", candidate: stricter }, { workflow: "deployment", candidate: stricter }] }))).toEqual([
      "shadow[1].workflow: duplicate candidate for workflow",
    ]);
    expect(await issuesOf(withShadow({ promotions: [{ workflow: "nope", from: candidate.hash }] }))).toEqual(["promotions[0].workflow: unknown workflow nope"]);
    expect(await issuesOf(withShadow({ promotions: [{ workflow: "deployment", from: enforced.hash }] }))).toEqual(["promotions[0].from: is the workflow's current version"]);
    expect(await issuesOf(withShadow({ promotions: [{ workflow: "deployment", from: "not a hash" }] }))).toEqual([expect.stringMatching(/^promotions\[0\]\.from: /)]);
    expect((await parseConfig(withShadow({ promotions: [{ workflow: "deployment", from: candidate.hash }] }))).promotions.get("deployment")).toBe(candidate.hash);
  });
});
