import { describe, expect, it } from "vitest";
import { type McpTool, ToolsListSchema, lintEnvironmentOf, lintWorkflow, scaffoldWorkflow, toIdentifier } from "../../src/config/authoring.js";
import { BUNDLED_EXAMPLE_CONFIG } from "../../src/config/bundled.js";
import { compileWorkflow } from "../../src/policy/compile.js";
import { WorkflowSchema } from "../../src/policy/workflow-schema.js";
import saved from "../fixtures/mcp/payments-tools.json";

// `baton scaffold`'s pure half (src/config/scaffold.ts): a saved tools/list result in, a
// skeleton that validates and lints clean out, with suggestions that lint clean once applied.
const bundled = lintEnvironmentOf(BUNDLED_EXAMPLE_CONFIG);
if (!bundled.ok) throw new Error("bundled configuration");
const errorsOf = (workflow: unknown) => lintWorkflow(workflow, bundled.environment).filter((f) => f.severity === "error");

const tools = ToolsListSchema.parse(saved).tools;

describe("scaffold from a saved tools/list result", () => {
  it("reads the JSON-RPC response or its result alone", () => {
    expect(tools.map((t) => t.name)).toEqual(["payment.send", "payment.list", "health"]);
    expect(ToolsListSchema.parse(saved.result).tools).toHaveLength(3);
    expect(ToolsListSchema.safeParse({ tools: [{ name: "x" }] }).success).toBe(false);
  });

  it("one grant per tool, to the audience; it validates, compiles and lints without findings", async () => {
    const { workflow, suggestions } = scaffoldWorkflow({ tools, audience: "payments", source: "payments-tools.json" });
    expect(WorkflowSchema.safeParse(workflow).success).toBe(true);
    await compileWorkflow(workflow);
    expect(lintWorkflow(workflow, bundled.environment)).toEqual([]);
    const grants = workflow.stages.flatMap((s) => s.grants);
    expect(grants.map((g) => [g.audience, g.actions, g.effect])).toEqual([
      ["payments", ["payment.send"], "write"],
      ["payments", ["payment.list"], "read"],
      ["payments", ["health"], undefined],
    ]);
    expect(workflow.id).toBe("payments");
    // A tool without typed arguments gets no suggestion; the others one condition per typed argument.
    expect(suggestions.map((s) => s.grant)).toEqual(["/stages/0/grants/0", "/stages/0/grants/1"]);
    expect(suggestions[0]?.where).toBe(
      'args.employee == params.employee && args.amount <= params.amount_max && args.currency == params.currency && (!("account-id" in args) || args["account-id"] == params.account_id)',
    );
    expect(suggestions[0]?.params.currency).toEqual({ type: "string", enum: ["EUR", "USD"] });
  });

  it("with every suggestion applied, the workflow still validates and lints without errors", async () => {
    const { workflow, suggestions } = scaffoldWorkflow({ tools, audience: "payments", source: "payments-tools.json" });
    const applied: any = structuredClone(workflow);
    for (const s of suggestions) {
      const [, , stage, , grant] = s.grant.split("/");
      applied.stages[Number(stage)].grants[Number(grant)].where = s.where;
      Object.assign(applied.params.properties, s.params);
    }
    applied.params.required = Object.keys(applied.params.properties);
    await compileWorkflow(applied);
    expect(lintWorkflow(applied, bundled.environment)).toEqual([]);
  });

  it("more tools than a stage may grant spill into stages behind placeholder outcome gates that can open", () => {
    const many: McpTool[] = Array.from({ length: 40 }, (_, i) => ({ name: `tool.${i}`, inputSchema: { type: "object" } }));
    const { workflow } = scaffoldWorkflow({ tools: many, audience: "big", source: "big.json" });
    expect(workflow.stages.map((s) => s.grants.length)).toEqual([16, 16, 8]);
    expect(workflow.stages[1]?.gate).toEqual({ outcomes: [{ tool: "big", action: "tool.0" }] });
    expect(WorkflowSchema.safeParse(workflow).success).toBe(true);
    expect(errorsOf(workflow)).toEqual([]);
  });

  it("skips a tool whose name cannot be an action, and refuses a list with none left", () => {
    const long = { name: "x".repeat(129), inputSchema: { type: "object" as const } };
    const result = scaffoldWorkflow({ tools: [long, { name: "ok", inputSchema: { type: "object" } }], audience: "t", source: "f" });
    expect(result.skipped).toEqual([{ tool: long.name, reason: expect.stringMatching(/128/) }]);
    expect(() => scaffoldWorkflow({ tools: [long], audience: "t", source: "f" })).toThrow(/no tools/);
  });

  it("tool ids from server names", () => {
    expect(toIdentifier("Payments Server")).toBe("payments-server");
    expect(toIdentifier("--Deployer_v2--")).toBe("deployer_v2");
    expect(toIdentifier("!!!")).toBeNull();
    expect(toIdentifier("a".repeat(80))).toHaveLength(64);
  });
});
