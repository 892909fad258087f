import { describe, expect, it } from "vitest";
import release from "../../examples/workflows/release.json";
import { compileWorkflow } from "../../src/policy/compile.js";
import { decide } from "../../src/policy/decide.js";
import { initialState, nonceKey } from "../../src/policy/fold.js";
import type { LedgerRequest, LedgerState, VerifiedWorkloadToken, WorkloadClaims } from "../../src/policy/types.js";

// decide() over a verified workload token (the shell fetched the issuer's keys and
// verified it): the same gate as for Baton attestations, with the token's claims as
// `attestation` in the CEL and its time claims judged here, where `now` is.
const NOW = Date.UTC(2026, 10, 22, 12, 0, 0);
const NOW_S = NOW / 1000;
const COMMIT = "0123456789abcdef0123456789abcdef01234567";
const PARAMS = { repo: "example-org/shop", commit: COMMIT, service: "shop", version: "1.4.0" };

const workflow = await compileWorkflow(release);
const SKEW = workflow.definition.clock_skew_seconds;

function state(overrides: Partial<LedgerState> = {}, spent = new Set<string>()): LedgerState {
  const record = { seq: "seq-1", workflowId: workflow.id, workflow: workflow.hash, params: PARAMS, subject: "user:alice", actor: "agent-7", orchestrator: "orchestrator", createdAt: NOW - 1000 };
  return { ...initialState(record, (kind, jti) => spent.has(nonceKey(kind, jti))), capability: { jti: "cap-1", exp: NOW_S + 600, reissues: 0 }, ...overrides };
}

function token(claims: Partial<WorkloadClaims> = {}, check: Partial<VerifiedWorkloadToken> = {}): LedgerRequest {
  return {
    kind: "evidence",
    fresh: { jti: "cap-2" },
    attestation: {
      ok: true,
      method: "oidc",
      attester: "github-actions",
      issuer: "https://token.actions.githubusercontent.com",
      audience: "https://baton.test",
      seq: "seq-1",
      kid: "gh-1",
      alg: "RS256",
      jwk: { kty: "RSA", kid: "gh-1", alg: "RS256", n: "AQAB", e: "AQAB" },
      digest: "token-digest",
      token: "a.b.c",
      claims: {
        iss: "https://token.actions.githubusercontent.com",
        aud: "https://baton.test/v1/sequences/seq-1",
        sub: "repo:example-org/shop:ref:refs/heads/main",
        iat: NOW_S - 30,
        nbf: NOW_S - 30,
        exp: NOW_S + 270,
        jti: "gh-jti-1",
        repository: "example-org/shop",
        repository_owner: "example-org",
        sha: COMMIT,
        ref: "refs/heads/main",
        job_workflow_ref: "example-org/shop/.github/workflows/release.yml@refs/heads/main",
        ...claims,
      },
      ...check,
    },
  };
}

describe("decide(): a workload token at the gate", () => {
  it("opens the canary: spends the token's jti, accepts it as the attester's workload_identity, mints the canary capability", () => {
    const outcome = decide(workflow, state(), token(), NOW);
    expect(outcome).toMatchObject({ decision: "ALLOW", code: null, message: "workload_identity accepted; stage canary opened" });
    expect(outcome.effects.slice(0, 3)).toEqual([
      { type: "spend", kind: "attestation", jti: "gh-jti-1" },
      { type: "accept_evidence", evidence: { requirement: 0, iss: "github-actions", type: "workload_identity", jti: "gh-jti-1", digest: "token-digest" } },
      { type: "advance", stage: 1 },
    ]);
    expect(outcome.mint?.evidence).toEqual([{ iss: "github-actions", type: "workload_identity", jti: "gh-jti-1", digest: "token-digest" }]);
  });

  it("the gate's CEL reads the token's claims: another repository, commit, branch or workflow file is CONDITION_FAILED", () => {
    for (const claims of [
      { repository: "mallory/shop" },
      { sha: "f".repeat(40) },
      { ref: "refs/heads/feature" },
      { job_workflow_ref: "example-org/shop/.github/workflows/anything.yml@refs/heads/main" },
    ]) {
      const outcome = decide(workflow, state(), token(claims), NOW);
      expect([outcome.code, outcome.effects]).toEqual(["CONDITION_FAILED", []]);
    }
    // A claim the condition reads that the token lacks is a CEL error: it denies too.
    const missing = token({ job_workflow_ref: undefined });
    expect(decide(workflow, state(), JSON.parse(JSON.stringify(missing)), NOW).code).toBe("CONDITION_FAILED");
  });

  it("time is judged here: expired, not valid yet, issued in the future, older than the gate's max age → EVIDENCE_STALE", () => {
    expect(decide(workflow, state(), token({ exp: NOW_S - SKEW }), NOW).code).toBe("EVIDENCE_STALE");
    expect(decide(workflow, state(), token({ exp: NOW_S - SKEW + 1 }), NOW).code).toBeNull();
    expect(decide(workflow, state(), token({ nbf: NOW_S + SKEW + 1 }), NOW).code).toBe("EVIDENCE_STALE");
    expect(decide(workflow, state(), token({ nbf: NOW_S + SKEW }), NOW).code).toBeNull();
    expect(decide(workflow, state(), token({ iat: NOW_S + SKEW + 1 }), NOW).code).toBe("EVIDENCE_STALE");
    expect(decide(workflow, state(), token({ iat: NOW_S - 601 - SKEW, exp: NOW_S + 60 }), NOW).code).toBe("EVIDENCE_STALE");
  });

  it("bound to one sequence by its audience, and spent once: another sequence is EVIDENCE_INVALID, a spent jti REPLAY_NONCE", () => {
    expect(decide(workflow, state(), token({}, { seq: "seq-2" }), NOW).code).toBe("EVIDENCE_INVALID");
    expect(decide(workflow, state({}, new Set([nonceKey("attestation", "gh-jti-1")])), token(), NOW).code).toBe("REPLAY_NONCE");
  });

  it("names no stage: it goes to the current stage's gate, which must take it (the rollout's takes only the monitor's canary_passed)", () => {
    const atCanary = state({ stage: 1 });
    const outcome = decide(workflow, atCanary, token(), NOW);
    expect([outcome.code, outcome.message]).toEqual(["EVIDENCE_INVALID", "the gate does not take workload_identity from github-actions"]);
  });

  it("a failed check (bad signature, unreachable issuer) is EVIDENCE_INVALID with its message", () => {
    const failed: LedgerRequest = { kind: "evidence", fresh: { jti: "cap-2" }, attestation: { ok: false, digest: "d", message: "issuer https://x cannot be reached" } };
    expect(decide(workflow, state(), failed, NOW)).toMatchObject({ code: "EVIDENCE_INVALID", message: "issuer https://x cannot be reached", effects: [] });
  });
});
