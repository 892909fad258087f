import { describe, expect, it } from "vitest";
import { BatonError } from "../../src/errors.js";
import { decisionOf, evaluationsOf, runEvaluations } from "../../src/api/routes/authzen/evaluate.js";
import type { Decision } from "../../src/api/routes/authzen/schemas.js";

// The pure half of the AuthZEN decision point (src/api/routes/authzen/evaluate.ts): defaults,
// the three evaluation semantics, and the gate's answer read as a Decision.
const TOKEN = "eyJhbGciOiJFZERTQSJ9.eyJzZXEiOiJ4In0.c2ln";
const OTHER = "eyJhbGciOiJFZERTQSJ9.eyJzZXEiOiJ5In0.c2ln";
const dpop = { proof: TOKEN, htm: "POST", htu: "https://tool.example/x" };
const base = {
  subject: { type: "agent" as const, id: "agent-7" },
  action: { name: "db.read" },
  resource: { type: "tool" as const, id: "db", properties: { rows: 1 } },
  context: { capability: TOKEN, dpop },
};

describe("evaluationsOf: the top level as defaults (§7.1.1)", () => {
  it("an entry's member replaces the default whole: a context of its own does not inherit the default's DPoP proof", () => {
    const { batch, evaluations } = evaluationsOf({ ...base, evaluations: [{}, { context: { capability: OTHER } }, { action: { name: "db.write" } }] });
    expect(batch).toBe(true);
    expect(evaluations.map((e) => e.context)).toEqual([base.context, { capability: OTHER }, base.context]);
    expect(evaluations.map((e) => e.action.name)).toEqual(["db.read", "db.read", "db.write"]);
  });

  it("no entries, or an empty array: the top level is the one evaluation", () => {
    for (const evaluations of [undefined, []]) expect(evaluationsOf({ ...base, evaluations })).toEqual({ batch: false, evaluations: [base] });
  });

  it("a member neither the entry nor the top level gives is an INVALID_REQUEST naming the entry", () => {
    const { action: _a, ...noAction } = base;
    const refused = (() => {
      try {
        evaluationsOf({ ...noAction, evaluations: [{ action: base.action }, {}, {}] });
      } catch (error) {
        return error;
      }
    })() as BatonError;
    expect(refused).toBeInstanceOf(BatonError);
    expect(refused.code).toBe("INVALID_REQUEST");
    expect((refused.details as { path: unknown[] }[]).map((issue) => issue.path)).toEqual([
      ["evaluations", 1, "action"],
      ["evaluations", 2, "action"],
    ]);
  });
});

describe("runEvaluations: the semantics (§7.1.2.1)", () => {
  const verdicts = [true, false, true, false];
  async function run(semantic: "execute_all" | "deny_on_first_deny" | "permit_on_first_permit", order = verdicts) {
    const evaluated: number[] = [];
    const decisions = await runEvaluations(
      order.map((_, i) => i),
      semantic,
      async (i): Promise<Decision> => {
        evaluated.push(i);
        return { decision: order[i] as boolean, context: { reason: `#${i}`, receipt: null } };
      },
    );
    return { evaluated, decisions: decisions.map((d) => d.decision) };
  }

  it("execute_all evaluates every entry, in order", async () => {
    expect(await run("execute_all")).toEqual({ evaluated: [0, 1, 2, 3], decisions: verdicts });
  });

  it("deny_on_first_deny stops after the first deny and never calls the gate for the rest", async () => {
    expect(await run("deny_on_first_deny")).toEqual({ evaluated: [0, 1], decisions: [true, false] });
    expect(await run("deny_on_first_deny", [true, true])).toEqual({ evaluated: [0, 1], decisions: [true, true] });
  });

  it("permit_on_first_permit stops after the first permit", async () => {
    expect(await run("permit_on_first_permit", [false, false, true, true])).toEqual({ evaluated: [0, 1, 2], decisions: [false, false, true] });
    expect(await run("permit_on_first_permit", [false, false])).toEqual({ evaluated: [0, 1], decisions: [false, false] });
  });
});

describe("decisionOf: the gate's answer as a Decision", () => {
  it("ALLOW is a permit with its receipt; a refusal is a deny with the code, the message as reason and the receipt", () => {
    const allowed = decisionOf({
      kind: "decided",
      started: false,
      body: { decision: "ALLOW", code: null, message: "db.read allowed for db", sequence: "s", sealed: false, receipt: "r", details: { grant: 0 } },
    });
    expect(allowed).toEqual({ decision: true, context: { reason: "db.read allowed for db", sequence: "s", sealed: false, receipt: "r", details: { grant: 0 } } });
    const refused = decisionOf({ kind: "refused", error: { code: "REPLAY_NONCE", message: "capability has no uses left", receipt: "r2" } });
    expect(refused).toEqual({ decision: false, context: { code: "REPLAY_NONCE", reason: "capability has no uses left", receipt: "r2" } });
  });

  it("anything but ALLOW is not a permit, an ESCALATE included", () => {
    const waiting = decisionOf({
      kind: "decided",
      started: false,
      body: { decision: "ESCALATE", code: "APPROVAL_REQUIRED", message: "waiting", sequence: "s", sealed: false, receipt: "r" },
    });
    expect(waiting).toMatchObject({ decision: false, context: { code: "APPROVAL_REQUIRED" } });
    expect(() => decisionOf({ kind: "receipts", receipts: [], last: null })).toThrow(/not a decision/);
  });
});
