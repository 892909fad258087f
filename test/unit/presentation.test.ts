import { describe, expect, it } from "vitest";
import { compileCondition } from "../../src/policy/cel.js";
import { type HolderRecord, capabilityProblem, conditionProblem, grantsForAction } from "../../src/policy/presentation.js";

// The checks of a presented capability that the gate's decide() and the verifier
// library share (policy/presentation.ts), pinned on their own; test/hostile's vectors
// pin that both callers give the same codes and words for the same tokens.
const NOW = 1_800_000_000;
const clock = { nowSeconds: NOW, skew: 5 };
const claims = { aud: ["deployer"], exp: NOW + 60, nbf: NOW, iat: NOW };
const offline = { audience: "deployer", audienceName: "deployer", dpop: undefined, tokenDigest: "" };
const proof = { ok: true as const, jkt: "jkt-1", claims: { htm: "POST", htu: "https://tool.example/run", iat: NOW, jti: "p-1", ath: "ath-1" } };
const dpop = { proof, htm: "POST", htu: "https://tool.example/run" };

describe("the capability as presented", () => {
  it("names the audience as the caller words it", () => {
    expect(capabilityProblem({ ...claims, aud: ["db"] }, offline, clock)).toEqual({
      code: "AUDIENCE_MISMATCH",
      message: "capability is not addressed to deployer",
      details: { aud: ["db"] },
    });
    expect(capabilityProblem({ ...claims, aud: ["db"] }, { ...offline, audienceName: "tool deployer" }, clock)?.message).toBe(
      "capability is not addressed to tool deployer",
    );
  });

  it("holds exp, nbf and iat to the clock within the skew", () => {
    expect(capabilityProblem(claims, offline, clock)).toBeNull();
    expect(capabilityProblem({ ...claims, exp: NOW - 5 }, offline, clock)?.code).toBe("TOKEN_EXPIRED");
    expect(capabilityProblem({ ...claims, exp: NOW - 4 }, offline, clock)).toBeNull();
    expect(capabilityProblem({ ...claims, nbf: NOW + 6 }, offline, clock)?.message).toBe("capability is not valid yet");
    expect(capabilityProblem({ ...claims, iat: NOW + 6 }, offline, clock)?.message).toBe("capability is issued in the future");
  });

  it("asks a bound capability for a proof of its key for this token and request", () => {
    const bound = { ...claims, cnf: { jkt: "jkt-1" } };
    expect(capabilityProblem(bound, offline, clock)?.message).toBe("capability is sender-constrained: a DPoP proof is required");
    expect(capabilityProblem(bound, { ...offline, dpop, tokenDigest: "ath-1" }, clock)).toBeNull();
    expect(capabilityProblem(bound, { ...offline, dpop, tokenDigest: "ath-2" }, clock)?.message).toBe(
      "DPoP proof rejected: proof is for another access token (ath)",
    );
    const rejected = { ...dpop, proof: { ok: false as const, message: "proof signature verification failed" } };
    expect(capabilityProblem(bound, { ...offline, dpop: rejected }, clock)?.message).toBe("DPoP proof rejected: proof signature verification failed");
  });

  it("adds what only the gate's ledger knows: the actor's key, a sender-constrained workflow, spent proofs", () => {
    const holder: HolderRecord = { senderConstrained: true, actorJkt: "jkt-1", dpopSpent: () => false };
    const bound = { ...claims, cnf: { jkt: "jkt-1" } };
    const presented = { ...offline, dpop, tokenDigest: "ath-1" };
    expect(capabilityProblem(bound, presented, clock, holder)).toBeNull();
    expect(capabilityProblem(claims, presented, clock, holder)?.message).toBe("capability is not bound to a key");
    expect(capabilityProblem(bound, presented, clock, { ...holder, actorJkt: "jkt-2" })?.message).toBe(
      "capability is bound to another key than the actor's",
    );
    expect(capabilityProblem(bound, presented, clock, { ...holder, dpopSpent: (jti) => jti === "p-1" })).toEqual({
      code: "REPLAY_NONCE",
      message: "DPoP proof jti was already used",
    });
    // Offline, the same presentation passes: the verifier cannot know these.
    expect(capabilityProblem(claims, presented, clock)).toBeNull();
  });
});

describe("the action against the grants", () => {
  const grants = [
    { tool: "deployer", actions: ["deploy"], id: 0 },
    { tool: "db", actions: ["read"], id: 1 },
    { tool: "deployer", actions: ["deploy", "status"], id: 2 },
  ];
  const asked = { tool: "deployer", action: "deploy", stage: "canary" };

  it("gives every matching grant, in order, without asking where else the action is granted", () => {
    const elsewhere = () => {
      throw new Error("not needed");
    };
    expect(grantsForAction(grants, asked, elsewhere)).toEqual({ matching: [grants[0], grants[2]] });
  });

  it("tells a skipped stage from an action no stage grants", () => {
    expect(grantsForAction(grants, { ...asked, action: "rollout" }, () => ["rollout"])).toEqual({
      refusal: {
        code: "SEQUENCE_VIOLATION",
        message: "rollout is granted to deployer in stage rollout, not in the current stage canary",
        details: { action: "rollout", tool: "deployer", granted_in: ["rollout"], current_stage: "canary" },
      },
    });
    expect(grantsForAction(grants, { ...asked, action: "drop" }, () => [])).toEqual({
      refusal: {
        code: "SCOPE_EXCEEDED",
        message: "action drop is not granted to tool deployer in stage canary",
        details: { granted: ["deploy", "deploy", "status"] },
      },
    });
  });

  it("refuses an argument its grant's condition rejects", () => {
    const where = compileCondition("args.n < 3");
    expect(conditionProblem(where, { args: { n: 2 }, params: {} })).toBeNull();
    expect(conditionProblem(where, { args: { n: 3 }, params: {} })).toEqual({
      code: "CONDITION_FAILED",
      message: "condition is false: args.n < 3",
      details: { condition: "args.n < 3", reason: "false" },
    });
  });
});
