import { describe, expect, it } from "vitest";
import deployment from "../../examples/workflows/deployment.json";
import { compileWorkflow } from "../../src/policy/compile.js";
import { decide } from "../../src/policy/decide.js";
import { applyEffects, initialState, nonceKey } from "../../src/policy/fold.js";
import type { AttestationClaims, CapabilityClaims, LedgerRequest, LedgerState, Outcome } from "../../src/policy/types.js";

// decide() is pure: fixed inputs, fixed time, no Durable Object. The integration
// tests prove the shell persists what it decides; these pin the decisions.
const NOW = Date.UTC(2026, 10, 22, 12, 0, 0);
const NOW_S = NOW / 1000;
const PARAMS = { service: "checkout", version: "2.4.1" };

const workflow = await compileWorkflow(deployment);
const SKEW = workflow.definition.clock_skew_seconds;

function state(overrides: Partial<LedgerState> = {}, spent = new Set<string>()): LedgerState {
  const record = {
    seq: "seq-1",
    workflowId: workflow.id,
    workflow: workflow.hash,
    params: PARAMS,
    subject: "user:alice",
    actor: "agent-7",
    orchestrator: "orchestrator",
    createdAt: NOW - 1000,
  };
  return {
    ...initialState(record, (kind, jti) => spent.has(nonceKey(kind, jti))),
    capability: { jti: "cap-1", exp: NOW_S + 600, reissues: 0 },
    ...overrides,
  };
}

function capability(overrides: Partial<CapabilityClaims> = {}): CapabilityClaims {
  return {
    iss: "https://baton.test",
    sub: "user:alice",
    act: { sub: "agent-7" },
    aud: ["deployer"],
    iat: NOW_S - 10,
    nbf: NOW_S - 10,
    exp: NOW_S + 600,
    jti: "cap-1",
    seq: "seq-1",
    stage: "canary",
    workflow: workflow.hash,
    receipt: "r0",
    authorization_details: [],
    evidence: null,
    ...overrides,
  };
}

const canaryArgs = { ...PARAMS, percent: 10 };
function redeem(token: Partial<CapabilityClaims> = {}, args: Record<string, unknown> = canaryArgs, action = "deploy.canary"): LedgerRequest {
  return { kind: "redeem", tool: "deployer", action, args, token: capability(token), tokenDigest: "d" };
}

function evidence(claims: Partial<AttestationClaims> = {}): LedgerRequest {
  return {
    kind: "evidence",
    fresh: { jti: "cap-2" },
    attestation: {
      ok: true,
      kid: "monitor-dev-1",
      digest: "att-digest",
      claims: {
        iss: "monitor",
        seq: "seq-1",
        stage: "canary",
        type: "canary_passed",
        iat: NOW_S - 60,
        jti: "att-1",
        facts: { ...PARAMS, error_rate: 0.001 },
        ...claims,
      },
    },
  };
}

const codeOf = (outcome: Outcome) => outcome.code;

describe("decide(): the gate", () => {
  it("allows the granted action once, spends the token, and changes nothing else", () => {
    const outcome = decide(workflow, state(), redeem(), NOW);
    expect(outcome).toMatchObject({ decision: "ALLOW", code: null, mint: null });
    expect(outcome.effects).toEqual([
      { type: "use", grant: 0 },
      { type: "spend", kind: "capability", jti: "cap-1" },
    ]);
  });

  it("exp is exclusive and widened by the workflow's skew, never more", () => {
    expect(codeOf(decide(workflow, state(), redeem({ exp: NOW_S - SKEW + 1 }), NOW))).toBeNull();
    expect(codeOf(decide(workflow, state(), redeem({ exp: NOW_S - SKEW }), NOW))).toBe("TOKEN_EXPIRED");
    expect(codeOf(decide(workflow, state(), redeem({ nbf: NOW_S + SKEW }), NOW))).toBeNull();
    expect(codeOf(decide(workflow, state(), redeem({ nbf: NOW_S + SKEW + 1 }), NOW))).toBe("TOKEN_INVALID");
  });

  it("a capability issued in the future (iat beyond now + skew) is refused, like one not valid yet", () => {
    expect(codeOf(decide(workflow, state(), redeem({ iat: NOW_S + SKEW }), NOW))).toBeNull();
    const future = decide(workflow, state(), redeem({ iat: NOW_S + SKEW + 1 }), NOW);
    expect([future.code, future.message]).toEqual(["TOKEN_INVALID", "capability is issued in the future"]);
    expect(future.effects).toEqual([]);
  });

  it("checks in a fixed order: audience before time before stage before nonce", () => {
    const everythingWrong = redeem({ aud: ["db"], exp: NOW_S - 100, stage: "rollout" });
    expect(codeOf(decide(workflow, state(), everythingWrong, NOW))).toBe("AUDIENCE_MISMATCH");
    expect(codeOf(decide(workflow, state(), redeem({ exp: NOW_S - 100, stage: "rollout" }), NOW))).toBe("TOKEN_EXPIRED");
    const spent = new Set([nonceKey("capability", "cap-1")]);
    expect(codeOf(decide(workflow, state({}, spent), redeem({ stage: "rollout" }), NOW))).toBe("SEQUENCE_VIOLATION");
    expect(codeOf(decide(workflow, state({}, spent), redeem(), NOW))).toBe("REPLAY_NONCE");
  });

  it("refuses tokens of another sequence or workflow version, and superseded ones", () => {
    expect(decide(workflow, state(), redeem({ seq: "seq-2" }), NOW).code).toBe("TOKEN_INVALID");
    expect(decide(workflow, state(), redeem({ workflow: "another-hash" }), NOW).code).toBe("TOKEN_INVALID");
    const reissued = state({ capability: { jti: "cap-9", exp: NOW_S + 600, reissues: 1 } });
    expect(decide(workflow, reissued, redeem(), NOW)).toMatchObject({ code: "TOKEN_INVALID", message: /superseded/ });
  });

  it("an action another stage grants is SEQUENCE_VIOLATION naming both stages; one no stage grants is SCOPE_EXCEEDED", () => {
    // Skipping the canary: the rollout is granted to the deployer, but by the later stage.
    expect(decide(workflow, state(), redeem({}, PARAMS, "deploy.rollout"), NOW)).toMatchObject({
      decision: "DENY",
      code: "SEQUENCE_VIOLATION",
      effects: [],
      details: { action: "deploy.rollout", tool: "deployer", granted_in: ["rollout"], current_stage: "canary" },
    });
    // In the rollout stage, the canary's action belongs to a closed stage.
    const rollout = state({ stage: 1, capability: { jti: "cap-2", exp: NOW_S + 600, reissues: 0 } });
    expect(decide(workflow, rollout, redeem({ jti: "cap-2", stage: "rollout" }, canaryArgs, "deploy.canary"), NOW)).toMatchObject({
      code: "SEQUENCE_VIOLATION",
      details: { granted_in: ["canary"], current_stage: "rollout" },
    });
    // Granted by no stage, or by another stage to another tool: the request exceeds the workflow.
    expect(decide(workflow, state(), redeem({}, PARAMS, "deploy.delete"), NOW).code).toBe("SCOPE_EXCEEDED");
    const otherTool = { ...(redeem({ aud: ["deployer", "db"] }, PARAMS, "deploy.rollout") as Extract<LedgerRequest, { kind: "redeem" }>), tool: "db" };
    expect(decide(workflow, state(), otherTool, NOW).code).toBe("SCOPE_EXCEEDED");
  });

  it("a capability names what the other stages grant its tools, for the verifier", () => {
    const started = decide(workflow, state({ capability: null }), { kind: "start", params: PARAMS, subject: "user:alice", actor: "agent-7", orchestrator: "o", fresh: { jti: "cap-1" } }, NOW);
    expect(started.mint?.other_stages).toEqual([{ stage: "rollout", tool: "deployer", actions: ["deploy.rollout"] }]);
  });

  it("a delegated sequence's capability never outlives the capability that delegated it", () => {
    const start = { kind: "start", params: PARAMS, subject: "user:alice", actor: "agent-7", orchestrator: "o", fresh: { jti: "cap-1" } } as const;
    const base = state({ capability: null });
    const delegated = (until: number) => ({ ...base, record: { ...base.record, delegation: { parent: "p", parentReceipt: "r", act: { sub: "agent-7" }, until } } });
    // The parent's capability ends 1 s after the child is started (the child's clock a second past the route's).
    expect(decide(workflow, delegated(NOW_S + 1), start, NOW).mint?.exp).toBe(NOW_S + 1);
    // A parent with time to spare leaves the stage's own ttl in force.
    const ttl = workflow.definition.stages[0]?.ttl_seconds ?? 0;
    expect(decide(workflow, delegated(NOW_S + ttl + 60), start, NOW).mint?.exp).toBe(NOW_S + ttl);
  });

  it("a delegated share is out of order once any ancestor left the stage it came from, sealed or is unknown; checked after the token's own stage", () => {
    const withLineage = (...lineage: { sequence: string; stage: string; status: "active" | "sealed" | "unknown" }[]) =>
      ({ ...redeem(), lineage }) as LedgerRequest;
    const open = { sequence: "parent", stage: "canary", status: "active" } as const;
    expect(decide(workflow, state(), withLineage(open, { ...open, sequence: "grandparent" }), NOW).decision).toBe("ALLOW");
    for (const closed of [
      { ...open, stage: "rollout" },
      { ...open, status: "sealed" },
      { sequence: "parent", stage: "", status: "unknown" },
    ] as const) {
      // The nearest ancestor open, one above it closed: the share is dead all the same.
      const outcome = decide(workflow, state(), withLineage(open, { ...closed, sequence: "grandparent" }), NOW);
      expect(outcome).toMatchObject({ decision: "DENY", code: "SEQUENCE_VIOLATION", effects: [], details: { token_stage: "canary", ancestor: { sequence: "grandparent" } } });
    }
    // The token's own stage is judged first, with its own details.
    const stale = { ...redeem({ stage: "rollout" }), lineage: [{ ...open, stage: "rollout" }] } as LedgerRequest;
    expect(decide(workflow, state(), stale, NOW).details).toEqual({ token_stage: "rollout", current_stage: "canary" });
  });

  it("a tool's report of its offline refusal is a DENY with its code: nothing spent, never an ALLOW", () => {
    const report = (code: "CONDITION_FAILED" | "TOKEN_EXPIRED" | "SEQUENCE_VIOLATION", request = redeem()) =>
      ({ ...request, refused: { code, message: "refused offline" } }) as LedgerRequest;
    // The gate's own checks would allow this one (e.g. the tool's clock is ahead): still a DENY, with the tool's code.
    expect(decide(workflow, state(), report("TOKEN_EXPIRED"), NOW)).toMatchObject({
      decision: "DENY",
      code: "TOKEN_EXPIRED",
      effects: [],
      mint: null,
      message: "refused by tool deployer: refused offline",
      details: { reported_by: "deployer", gate: "ALLOW" },
    });
    // The gate agrees: its own message and details, and who reported it.
    expect(decide(workflow, state(), report("SEQUENCE_VIOLATION", redeem({}, PARAMS, "deploy.rollout")), NOW)).toMatchObject({
      code: "SEQUENCE_VIOLATION",
      details: { granted_in: ["rollout"], current_stage: "canary", reported_by: "deployer", gate: "SEQUENCE_VIOLATION" },
    });
    // The gate would refuse for another reason first: the tool's code stands, the gate's is recorded.
    const spent = new Set([nonceKey("capability", "cap-1")]);
    expect(decide(workflow, state({}, spent), report("CONDITION_FAILED"), NOW)).toMatchObject({
      code: "CONDITION_FAILED",
      details: { gate: "REPLAY_NONCE" },
      effects: [],
    });
    // Nothing unseals: a report to a sealed sequence is SEALED_SEQUENCE like anything else.
    expect(decide(workflow, state({ status: "sealed", sealReason: "completed" }), report("CONDITION_FAILED"), NOW).code).toBe("SEALED_SEQUENCE");
  });

  it("a false or erroring condition is CONDITION_FAILED", () => {
    const tooMuch = decide(workflow, state(), redeem({}, { ...canaryArgs, percent: 11 }), NOW);
    expect(tooMuch).toMatchObject({ code: "CONDITION_FAILED", details: { reason: "false" } });
    // `percent` missing: CEL raises "no such key", which must deny, never allow.
    const erroring = decide(workflow, state(), redeem({}, PARAMS), NOW);
    expect(erroring).toMatchObject({ decision: "DENY", code: "CONDITION_FAILED", details: { reason: "error" } });
    // A string where a number is compared: also an error, also a denial.
    expect(decide(workflow, state(), redeem({}, { ...canaryArgs, percent: "5" }), NOW).code).toBe("CONDITION_FAILED");
  });

  it("a sealed sequence refuses everything, whatever else is wrong", () => {
    const sealed = state({ status: "sealed", sealReason: "completed" });
    for (const request of [redeem(), redeem({ aud: ["x"] }), evidence(), { kind: "reissue", agent: "agent-7", fresh: { jti: "x" } } as const]) {
      expect(decide(workflow, sealed, request, NOW)).toMatchObject({ decision: "DENY", code: "SEALED_SEQUENCE", effects: [] });
    }
    expect(decide(workflow, sealed, { kind: "revoke", orchestrator: "o", reason: "r" }, NOW).code).toBe("SEALED_SEQUENCE");
  });

  it("the last stage's last use seals the sequence", () => {
    const rollout = state({ stage: 1, capability: { jti: "cap-2", exp: NOW_S + 600, reissues: 0 } });
    const outcome = decide(workflow, rollout, redeem({ jti: "cap-2", stage: "rollout" }, PARAMS, "deploy.rollout"), NOW);
    expect(outcome.effects).toContainEqual({ type: "seal", reason: "completed" });
  });
});

describe("decide(): evidence", () => {
  it("a satisfying attestation advances and plans the next capability from `now`", () => {
    const outcome = decide(workflow, state(), evidence(), NOW);
    expect(outcome.decision).toBe("ALLOW");
    expect(outcome.effects).toContainEqual({ type: "advance", stage: 1 });
    expect(outcome.mint).toMatchObject({ stageId: "rollout", jti: "cap-2", iat: NOW_S, exp: NOW_S + 600, aud: ["deployer"] });
    expect(outcome.mint?.evidence).toEqual([{ iss: "monitor", type: "canary_passed", jti: "att-1", digest: "att-digest" }]);
  });

  it("freshness boundaries: max age plus skew, future iat beyond skew, exp passed", () => {
    const maxAge = 900;
    expect(decide(workflow, state(), evidence({ iat: NOW_S - maxAge - SKEW }), NOW).decision).toBe("ALLOW");
    expect(decide(workflow, state(), evidence({ iat: NOW_S - maxAge - SKEW - 1 }), NOW).code).toBe("EVIDENCE_STALE");
    expect(decide(workflow, state(), evidence({ iat: NOW_S + SKEW }), NOW).decision).toBe("ALLOW");
    expect(decide(workflow, state(), evidence({ iat: NOW_S + SKEW + 1 }), NOW).code).toBe("EVIDENCE_STALE");
    expect(decide(workflow, state(), evidence({ exp: NOW_S - SKEW }), NOW).code).toBe("EVIDENCE_STALE");
  });

  it("refuses evidence of another sequence, stage, type, version, or a spent jti", () => {
    expect(decide(workflow, state(), evidence({ seq: "seq-2" }), NOW).code).toBe("EVIDENCE_INVALID");
    expect(decide(workflow, state(), evidence({ stage: "rollout" }), NOW).code).toBe("SEQUENCE_VIOLATION");
    expect(decide(workflow, state(), evidence({ type: "canary_started" }), NOW).code).toBe("EVIDENCE_INVALID");
    expect(decide(workflow, state(), evidence({ iss: "ci" }), NOW).code).toBe("EVIDENCE_INVALID");
    const otherVersion = evidence({ facts: { ...PARAMS, version: "2.4.2", error_rate: 0 } });
    expect(decide(workflow, state(), otherVersion, NOW).code).toBe("CONDITION_FAILED");
    const spent = new Set([nonceKey("attestation", "att-1")]);
    expect(decide(workflow, state({}, spent), evidence(), NOW).code).toBe("REPLAY_NONCE");
    const unverified: LedgerRequest = { kind: "evidence", fresh: { jti: "x" }, attestation: { ok: false, digest: "d", message: "bad signature" } };
    expect(decide(workflow, state(), unverified, NOW)).toMatchObject({ code: "EVIDENCE_INVALID", message: "bad signature" });
  });
});

describe("decide(): re-issue and revoke", () => {
  const reissue: LedgerRequest = { kind: "reissue", agent: "agent-7", fresh: { jti: "cap-r" } };

  it("re-issues up to the stage's limit, counting each one", () => {
    const limit = workflow.definition.stages[0]!.max_reissues;
    let current = state();
    const spent = new Set<string>();
    for (let i = 0; i < limit; i++) {
      const outcome = decide(workflow, current, reissue, NOW);
      expect(outcome.decision).toBe("ALLOW");
      current = applyEffects(current, outcome.effects, spent);
    }
    expect(current.capability?.reissues).toBe(limit);
    expect(decide(workflow, current, reissue, NOW)).toMatchObject({ code: "SCOPE_EXCEEDED", details: { max_reissues: limit } });
  });

  it("nothing is re-issued for a stage whose uses are spent", () => {
    expect(decide(workflow, state({ uses: [1] }), reissue, NOW).code).toBe("SCOPE_EXCEEDED");
  });

  it("revoke seals with reason revoked", () => {
    const outcome = decide(workflow, state(), { kind: "revoke", orchestrator: "o", reason: "done" }, NOW);
    expect(outcome.effects).toEqual([{ type: "seal", reason: "revoked" }]);
    expect(applyEffects(state(), outcome.effects, new Set())).toMatchObject({ status: "sealed", sealReason: "revoked" });
  });
});

describe("decide() is a function", () => {
  it("same inputs, same outcome; the state passed in is never mutated", () => {
    const before = state();
    const snapshot = structuredClone({ ...before, nonceUsed: undefined });
    const requests = [redeem(), evidence(), redeem({}, { ...canaryArgs, percent: 50 })];
    for (const request of requests) {
      expect(decide(workflow, before, request, NOW)).toEqual(decide(workflow, before, request, NOW));
    }
    expect({ ...before, nonceUsed: undefined }).toEqual(snapshot);
  });

  it("folding a full run reproduces the sequence: canary, evidence, rollout, seal", () => {
    const spent = new Set<string>();
    let current = state({}, spent);
    const step = (request: LedgerRequest) => {
      const outcome = decide(workflow, current, request, NOW);
      expect(outcome.decision).toBe("ALLOW");
      current = { ...applyEffects(current, outcome.effects, spent), nonceUsed: current.nonceUsed };
      return outcome;
    };
    step(redeem());
    step(evidence());
    expect(current).toMatchObject({ stage: 1, uses: [], evidence: [], capability: { jti: "cap-2", reissues: 0 } });
    step(redeem({ jti: "cap-2", stage: "rollout" }, PARAMS, "deploy.rollout"));
    expect(current.status).toBe("sealed");
    expect([...spent].sort()).toEqual(["attestation:att-1", "capability:cap-1", "capability:cap-2"]);
    // The replayed first token is refused twice over: spent, and the sequence is sealed.
    expect(decide(workflow, current, redeem(), NOW).code).toBe("SEALED_SEQUENCE");
  });
});
