import { describe, expect, it } from "vitest";
import type { CompiledGate } from "../../src/policy/compile.js";
import { approvalExpiresAt, approvalsPending, countingApprovals, gateProgress, missingEvidence } from "../../src/policy/gate-tally.js";
import type { AcceptedApproval } from "../../src/policy/types.js";

// What counts towards a gate (policy/gate-tally.ts): decide() opens gates by it, the
// sequence's description shows it, and the approval digest is taken over its evidence.
const NOW = 1_800_000_000;
const clock = { nowSeconds: NOW, skew: 5 };

describe("what counts towards a gate", () => {
  const gate: CompiledGate = {
    attestations: [
      { requirement: { issuer: "ci", type: "tests_passed", max_age_seconds: 600 }, where: null },
      { requirement: { issuer: "ci", type: "scan_clean", max_age_seconds: 600 }, where: null },
    ],
    outcomes: [{ tool: "deployer", action: "deploy" }],
    approvals: { group: "release", count: 2, max_age_seconds: 3600, exclude_subject: true, exclude_orchestrator: true },
    signals: null,
  };
  const approval = (approver: string, expires_at: number): AcceptedApproval => ({ approver, jti: `j-${approver}`, digest: "d", iat: NOW - 10, expires_at });

  it("lists the requirements met and what is still missing, attestations first", () => {
    const state = { evidence: [{ requirement: 1, iss: "ci", type: "scan_clean", jti: "a", digest: "a" }], outcomes: [] };
    expect(gateProgress(gate, state).attestations.map((a) => a.satisfied)).toEqual([false, true]);
    expect(gateProgress(gate, state).outcomes.map((o) => o.succeeded)).toEqual([false]);
    expect(missingEvidence(gate, state)).toEqual([
      { issuer: "ci", type: "tests_passed" },
      { tool: "deployer", outcome: "deploy succeeded" },
    ]);
  });

  it("counts an approval until its window ends, within the skew", () => {
    expect(approvalExpiresAt({ iat: NOW, exp: NOW + 100 }, { max_age_seconds: 3600 })).toBe(NOW + 100);
    expect(approvalExpiresAt({ iat: NOW }, { max_age_seconds: 3600 })).toBe(NOW + 3600);
    const approvals = [approval("bob", NOW - 5), approval("carol", NOW - 4), approval("dave", NOW + 50)];
    expect(countingApprovals(approvals, clock).map((a) => a.approver)).toEqual(["carol", "dave"]);
    expect(approvalsPending(gate, approvals, clock)).toEqual({
      group: "release",
      required: 2,
      remaining: 0,
      approved_by: [
        { approver: "carol", at: NOW - 10, expires_at: NOW - 4 },
        { approver: "dave", at: NOW - 10, expires_at: NOW + 50 },
      ],
      until: NOW - 4,
    });
  });
});
