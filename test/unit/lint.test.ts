import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type LintEnvironment, type LintFinding, lintEnvironmentOf, lintWorkflow, pointer } from "../../src/config/authoring.js";
import { BUNDLED_EXAMPLE_CONFIG } from "../../src/config/bundled.js";

// Each rule of `baton lint` (src/config/lint/) on a small workflow that triggers it and on
// one that does not, against the bundled configuration: attesters monitor, ci, backup-checker
// and expense-checker; groups sre and finance-managers (3 approvers each); detectors
// flow.restricted-to-public, rate.burst and novelty.new-action.
const bundled = lintEnvironmentOf(BUNDLED_EXAMPLE_CONFIG);
if (!bundled.ok) throw new Error(JSON.stringify(bundled.issues));
const environment: LintEnvironment = bundled.environment;

/** A two-stage workflow that lints clean; each test changes one thing. */
function base(): any {
  return {
    id: "lint-base",
    params: {
      type: "object",
      properties: {
        service: { type: "string" },
        limit: { type: "integer" },
        ratio: { type: "number" },
        tags: { type: "array", items: { type: "string" } },
        owner: { type: "object", properties: { team: { type: "string" } }, additionalProperties: false },
      },
      required: ["service", "limit"],
      additionalProperties: false,
    },
    stages: [
      { id: "canary", grants: [{ audience: "deployer", actions: ["deploy.canary"], where: "args.service == params.service", uses: 1 }] },
      {
        id: "rollout",
        gate: {
          attestations: [{ issuer: "monitor", type: "canary_passed", where: "attestation.facts.service == params.service" }],
          approvals: { group: "sre", count: 2 },
          outcomes: [{ tool: "deployer", action: "deploy.canary" }],
        },
        grants: [{ audience: "deployer", actions: ["deploy.rollout"], uses: 1 }],
      },
    ],
  };
}

function lint(edit: (workflow: any) => void = () => {}): LintFinding[] {
  const workflow = base();
  edit(workflow);
  return lintWorkflow(workflow, environment);
}
/** `severity rule path` of each finding: what the tests compare (never the wording). */
const summary = (findings: LintFinding[]) => findings.map((f) => `${f.severity} ${f.rule} ${f.path}`);
const only = (rule: string, findings: LintFinding[]) => summary(findings.filter((f) => f.rule === rule));
const where = (source: string) => (w: any) => {
  w.stages[0].grants[0].where = source;
};

describe("lint: the base workflow and the bundled examples", () => {
  it("the base workflow has no findings", () => {
    expect(lint()).toEqual([]);
  });

  it("every bundled example workflow lints without errors", () => {
    expect(BUNDLED_EXAMPLE_CONFIG.workflows.length).toBeGreaterThan(0);
    for (const workflow of BUNDLED_EXAMPLE_CONFIG.workflows) {
      expect(lintWorkflow(workflow, environment).filter((f) => f.severity === "error"), workflow.id).toEqual([]);
    }
  });

  it("a configuration the schema refuses gives its issues, not an environment", () => {
    const result = lintEnvironmentOf({ ...BUNDLED_EXAMPLE_CONFIG, attesters: [{ id: "Bad Id", keys: [] }] });
    expect(result.ok).toBe(false);
  });
});

describe("lint: numbers the schema bounds, named with their limit", () => {
  it("uses-zero", () => {
    expect(summary(lint((w) => (w.stages[0].grants[0].uses = 0)))).toEqual(["error uses-zero /stages/0/grants/0/uses"]);
    expect(lint((w) => (w.stages[0].grants[0].uses = 1))).toEqual([]);
  });

  it("ttl-beyond-max: a stage's TTL, an attestation's and an approval's max age", () => {
    const findings = lint((w) => {
      w.stages[0].ttl_seconds = 3601;
      w.stages[1].gate.attestations[0].max_age_seconds = 86_401;
      w.stages[1].gate.approvals.max_age_seconds = 7 * 86_400 + 1;
    });
    expect(summary(findings)).toEqual([
      "error ttl-beyond-max /stages/0/ttl_seconds",
      "error ttl-beyond-max /stages/1/gate/approvals/max_age_seconds",
      "error ttl-beyond-max /stages/1/gate/attestations/0/max_age_seconds",
    ]);
    expect(findings[0]?.message).toMatch(/3600 .*CAPABILITY_MAX_TTL_SECONDS/);
    const atTheLimit = lint((w) => {
      w.stages[0].ttl_seconds = 3600;
      w.stages[1].gate.attestations[0].max_age_seconds = 86_400;
    });
    expect(atTheLimit).toEqual([]);
  });

  it("stage-without-grants: an empty list or none at all", () => {
    expect(summary(lint((w) => (w.stages[1].grants = [])))).toEqual(["error stage-without-grants /stages/1/grants"]);
    expect(summary(lint((w) => delete w.stages[1].grants))).toEqual(["error stage-without-grants /stages/1/grants"]);
  });

  it("schema: any other refusal of the workflow schema, at its path", () => {
    expect(summary(lint((w) => (w.stages[1].id = "Not An Id")))).toEqual(["error schema /stages/1/id"]);
    // The schema's own rule, which no dedicated rule duplicates.
    expect(summary(lint((w) => delete w.stages[1].gate))).toEqual(["error schema /stages/1/gate"]);
  });

  it("params-schema: a params JSON Schema Baton cannot build", () => {
    expect(summary(lint((w) => (w.params.properties.limit = { type: "bogus" })))).toEqual(["error params-schema /params"]);
  });
});

describe("lint: gates that can never be satisfied", () => {
  it("unknown-issuer, and the stage it leaves unreachable", () => {
    expect(summary(lint((w) => (w.stages[1].gate.attestations[0].issuer = "nobody")))).toEqual([
      "warning unreachable-stage /stages/1",
      "error unknown-issuer /stages/1/gate/attestations/0/issuer",
    ]);
    expect(lint((w) => (w.stages[1].gate.attestations[0].issuer = "ci"))).toEqual([]);
  });

  it("approval-group-too-small: more approvals than members, or a group nobody is in", () => {
    expect(only("approval-group-too-small", lint((w) => (w.stages[1].gate.approvals.count = 4)))).toEqual(["error approval-group-too-small /stages/1/gate/approvals/count"]);
    expect(only("approval-group-too-small", lint((w) => (w.stages[1].gate.approvals.group = "nobody")))).toEqual(["error approval-group-too-small /stages/1/gate/approvals/count"]);
    expect(lint((w) => (w.stages[1].gate.approvals.count = 3))).toEqual([]);
  });

  it("outcome-not-granted: the previous stage must grant the tool the action", () => {
    // Granted, but in the stage the gate opens: the outcome comes too late.
    expect(only("outcome-not-granted", lint((w) => (w.stages[1].gate.outcomes[0].action = "deploy.rollout")))).toEqual(["error outcome-not-granted /stages/1/gate/outcomes/0"]);
    expect(only("outcome-not-granted", lint((w) => (w.stages[1].gate.outcomes[0].tool = "db")))).toEqual(["error outcome-not-granted /stages/1/gate/outcomes/0"]);
    const completion = (action: string) => (w: any) => {
      w.complete = { on: "attestations", gate: { outcomes: [{ tool: "deployer", action }] } };
    };
    expect(lint(completion("deploy.rollout"))).toEqual([]);
    expect(summary(lint(completion("deploy.canary")))).toEqual(["error outcome-not-granted /complete/gate/outcomes/0"]);
  });

  it("unknown-signal: a required signal no detector emits is an error; a block, a warning", () => {
    expect(summary(lint((w) => (w.stages[1].gate.signals = { require: ["no.such-detector"] })))).toEqual([
      "warning unreachable-stage /stages/1",
      "error unknown-signal /stages/1/gate/signals/require/0",
    ]);
    expect(summary(lint((w) => (w.stages[0].grants[0].signals = { block: ["rate.burts"] })))).toEqual(["warning unknown-signal /stages/0/grants/0/signals/block/0"]);
    expect(lint((w) => (w.stages[0].grants[0].signals = { block: ["rate.burst"], require: ["novelty.new-action"] }))).toEqual([]);
  });

  it("a grant requiring an unknown signal can never be used, so an outcome gate on it never opens", () => {
    expect(summary(lint((w) => (w.stages[0].grants[0].signals = { require: ["missing"] })))).toEqual([
      "error unknown-signal /stages/0/grants/0/signals/require/0",
      "warning unreachable-stage /stages/1",
      "error outcome-not-granted /stages/1/gate/outcomes/0",
    ]);
  });

  it("unreachable-stage: every stage from the first gate that cannot open", () => {
    const third = (w: any) => {
      w.stages.push({ id: "verify", gate: { attestations: [{ issuer: "ci", type: "verified" }] }, grants: [{ audience: "deployer", actions: ["deploy.verify"] }] });
    };
    expect(lint(third)).toEqual([]);
    const early = lint((w) => {
      third(w);
      w.stages[1].gate.approvals.group = "nobody";
    });
    expect(only("unreachable-stage", early)).toEqual(["warning unreachable-stage /stages/1", "warning unreachable-stage /stages/2"]);
    const late = lint((w) => {
      third(w);
      w.stages[2].gate.attestations[0].issuer = "nobody";
    });
    expect(only("unreachable-stage", late)).toEqual(["warning unreachable-stage /stages/2"]);
  });
});

describe("lint: CEL against the params schema", () => {
  it("cel-parse", () => {
    expect(summary(lint(where("args.(")))).toEqual(["error cel-parse /stages/0/grants/0/where"]);
  });

  it("cel-undeclared: only the variables Baton binds where the expression runs", () => {
    expect(summary(lint(where("attestation.facts.ok == true")))).toEqual(["error cel-undeclared /stages/0/grants/0/where"]);
    expect(summary(lint((w) => (w.stages[1].gate.attestations[0].where = "args.service == params.service")))).toEqual(["error cel-undeclared /stages/1/gate/attestations/0/where"]);
    const sum = (max: string) => (w: any) => {
      w.stages[0].grants[0].where = "args.amount <= 10";
      w.stages[0].grants[0].sum = { arg: "amount", max };
    };
    expect(summary(lint(sum("args.total")))).toEqual(["error cel-undeclared /stages/0/grants/0/sum/max"]);
    expect(lint(sum("params.limit"))).toEqual([]);
    // Comprehension variables are in scope inside the macro.
    expect(lint(where("args.items.all(i, i in params.tags)"))).toEqual([]);
  });

  it("cel-unknown-param: an error when the schema allows no other parameter, a warning when it does", () => {
    expect(summary(lint(where("args.service == params.servce")))).toEqual(["error cel-unknown-param /stages/0/grants/0/where"]);
    expect(summary(lint(where("has(params.servce)")))).toEqual(["error cel-unknown-param /stages/0/grants/0/where"]);
    expect(summary(lint(where("params['servce'] == 'x'")))).toEqual(["error cel-unknown-param /stages/0/grants/0/where"]);
    expect(summary(lint(where("params.owner.teem == 'sre'")))).toEqual(["error cel-unknown-param /stages/0/grants/0/where"]);
    const open = lint((w) => {
      delete w.params.additionalProperties;
      w.stages[0].grants[0].where = "args.service == params.servce";
    });
    expect(summary(open)).toEqual(["warning cel-unknown-param /stages/0/grants/0/where"]);
    expect(lint(where("args.service == params.service && params.owner.team == 'sre' && has(params.ratio)"))).toEqual([]);
  });

  it("cel-type-mismatch: comparisons and operators with no overload, and a result of the wrong type", () => {
    const mismatches = {
      "params.service < 3": "error",
      "params.limit == 'ten'": "error",
      "args.n + params.service > 2": "",
      "params.limit + 1.5 > 2.0": "error",
      "params.ratio * 2 > 1": "warning",
      "1 in params.tags": "error",
      "params.tags.all(t, t > 1)": "error",
      "params.service.startsWith(params.limit)": "error",
      "size(params.limit) > 0": "error",
      "!params.service": "error",
      "params.owner.team.size() > 1 && params.owner == params.service": "error",
      "params.service": "error",
    } as Record<string, string>;
    for (const [source, severity] of Object.entries(mismatches)) {
      const found = only("cel-type-mismatch", lint(where(source)));
      expect(found, source).toEqual(severity ? [`${severity} cel-type-mismatch /stages/0/grants/0/where`] : []);
    }
    const fine = [
      "params.limit + 1 > 2",
      "args.amount <= params.ratio",
      "double(params.ratio) * 2.0 > 1.0",
      "'x' in params.tags && size(params.tags) < 3",
      "params.limit > 2.5 && params.limit != 3u",
      "params.service.startsWith('check') && params.service.matches('^[a-z]+$')",
      "params.limit > 1 ? args.x == params.service : false",
      "type(params.limit) == int",
    ];
    for (const source of fine) expect(lint(where(source)), source).toEqual([]);
  });

  it("cel-type-mismatch: a sum limit must be a number", () => {
    const sum = (max: string) => (w: any) => {
      w.stages[0].grants[0].where = "args.amount <= 10";
      w.stages[0].grants[0].sum = { arg: "amount", max };
    };
    expect(summary(lint(sum("params.service")))).toEqual(["error cel-type-mismatch /stages/0/grants/0/sum/max"]);
    expect(lint(sum("params.limit * 2"))).toEqual([]);
  });

  it("the message names the parameter and the column", () => {
    const [finding] = lint(where("args.service == params.service && params.limit == 'ten'"));
    expect(finding?.message).toMatch(/params\.limit \(int\).*"ten" \(string\).*column 48/);
  });
});

describe("lint: budgets", () => {
  it("sum-unconstrained: a sum on an argument no where condition reads", () => {
    const sum = (condition: string) => (w: any) => {
      w.stages[0].grants[0].where = condition;
      w.stages[0].grants[0].sum = { arg: "amount", max: 100 };
    };
    expect(summary(lint(sum("args.service == params.service")))).toEqual(["warning sum-unconstrained /stages/0/grants/0/sum/arg"]);
    expect(summary(lint((w) => (w.stages[1].grants[0].sum = { arg: "amount", max: 100 })))).toEqual(["warning sum-unconstrained /stages/1/grants/0/sum/arg"]);
    expect(lint(sum("args.service == params.service && args.amount <= 50"))).toEqual([]);
    expect(lint(sum("args['amount'] <= 50"))).toEqual([]);
  });
});

describe("lint: paths", () => {
  it("pointers escape ~ and / (RFC 6901)", () => {
    expect(pointer(["stages", 0, "a/b", "c~d"])).toBe("/stages/0/a~1b/c~0d");
    expect(pointer([])).toBe("");
  });

  it("every finding's path is a JSON pointer to a value in the document (or to the member it lacks)", () => {
    const workflow = base();
    workflow.stages[0].ttl_seconds = 9999;
    workflow.stages[0].grants[0].uses = 0;
    workflow.stages[0].grants[0].where = "params.nope == 1";
    workflow.stages[1].gate.attestations[0].issuer = "nobody";
    workflow.stages[1].gate.approvals.count = 9;
    workflow.stages[1].gate.outcomes.push({ tool: "db", action: "db.backup" });
    workflow.stages[1].grants[0].signals = { block: ["no.such"] };
    const findings = lintWorkflow(workflow, environment);
    expect(findings.length).toBeGreaterThanOrEqual(8);
    for (const { path } of findings) {
      let value: any = workflow;
      for (const part of path.split("/").slice(1)) value = value?.[part.replaceAll("~1", "/").replaceAll("~0", "~")];
      expect(value, path).toBeDefined();
    }
  });
});

describe("lint: any input", () => {
  it("never throws: arbitrary JSON, and the base workflow with any value anywhere", () => {
    const paths = ["id", "params", "stages", "complete", "stages.0", "stages.0.grants", "stages.0.grants.0", "stages.0.grants.0.uses", "stages.1.gate", "stages.1.gate.approvals", "stages.1.gate.attestations.0", "stages.1.ttl_seconds", "params.properties", "params.properties.limit"];
    fc.assert(
      fc.property(fc.jsonValue(), fc.constantFrom(...paths), fc.jsonValue(), (document, path, value) => {
        expect(Array.isArray(lintWorkflow(document, environment))).toBe(true);
        const workflow = base();
        const keys = path.split(".");
        const last = keys.pop() as string;
        const holder = keys.reduce((o, k) => o?.[k], workflow);
        if (holder && typeof holder === "object") holder[last] = value;
        for (const finding of lintWorkflow(workflow, environment)) expect(finding.path.startsWith("/") || finding.path === "").toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("never throws on CEL built from its own tokens", () => {
    const token = fc.constantFrom("params", "args", "attestation", ".", "service", "limit", "tags", "owner", "team", "[", "]", "(", ")", "'x'", "1", "2.5", "3u", "true", "null", "+", "-", "*", "/", "%", "==", "<", "&&", "||", "!", "?", ":", "in", ",", "size", "has", "all", "t", "{", "}", "int", "startsWith");
    fc.assert(
      fc.property(fc.array(token, { maxLength: 24 }), (tokens) => {
        const findings = lint(where(tokens.join(" ") || "true"));
        expect(findings.every((f) => f.path === "/stages/0/grants/0/where")).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});
