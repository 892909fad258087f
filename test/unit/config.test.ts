import { describe, expect, it } from "vitest";
import { BUNDLED_EXAMPLE_CONFIG } from "../../src/config/bundled.js";
import { ConfigError, loadConfig, parseConfig } from "../../src/config/load.js";
import { compileWorkflow } from "../../src/policy/compile.js";
import deployment from "../../examples/workflows/deployment.json";

const clone = <T>(value: T): T => structuredClone(value);

/** The example configuration with one change made by `edit`. */
function configWith(edit: (config: any) => void): unknown {
  const config: any = clone(BUNDLED_EXAMPLE_CONFIG);
  edit(config);
  return config;
}

async function issuesOf(input: unknown): Promise<string[]> {
  try {
    await parseConfig(input);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.issues.map((issue) => `${issue.path}: ${issue.message}`);
  }
  throw new Error("configuration was accepted");
}

describe("configuration errors name the exact path", () => {
  it("a CEL parse error in a gate condition, with its column", async () => {
    const issues = await issuesOf(
      configWith((c) => {
        c.workflows[0].stages[1].gate.attestations[0].where = "attestation.facts.ok == = true";
      }),
    );
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatch(/^workflows\[0\]\.stages\[1\]\.gate\.attestations\[0\]\.where: CEL parse error at column \d+/);
  });

  it("a CEL parse error in a grant and in the completion gate", async () => {
    const issues = await issuesOf(
      configWith((c) => {
        c.workflows[2].stages[0].grants[0].where = "args.(";
        c.workflows[1].complete = { on: "attestations", gate: { attestations: [{ issuer: "ci", type: "t", where: "))" }] } };
      }),
    );
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^workflows\[2\]\.stages\[0\]\.grants\[0\]\.where: CEL parse error/),
        expect.stringMatching(/^workflows\[1\]\.complete\.gate\.attestations\[0\]\.where: CEL parse error/),
      ]),
    );
  });

  it("resource indicators: tool servers only, absolute http(s) URIs without a fragment, one tool per resource", async () => {
    const index = (c: any, id: string) => c.clients.findIndex((client: any) => client.id === id);
    const issues = await issuesOf(
      configWith((c) => {
        c.clients[index(c, "agent-7")].resources = ["https://agent.example/"];
        c.clients[index(c, "db")].resources = ["HTTP://LOCALHOST:3001/mcp", "https://db.example/#frag", "urn:tool:db"];
      }),
    );
    const agent = index(BUNDLED_EXAMPLE_CONFIG, "agent-7");
    const db = index(BUNDLED_EXAMPLE_CONFIG, "db");
    expect(issues).toEqual(
      expect.arrayContaining([
        `clients[${agent}].resources: only tool servers name resources`,
        // The deployer's http://localhost:3001/mcp, spelt otherwise: still the deployer's.
        `clients[${db}].resources[0]: resource is already tool:deployer's`,
        expect.stringMatching(new RegExp(`^clients\\[${db}\\]\\.resources\\[1\\]: no fragment`)),
        expect.stringMatching(new RegExp(`^clients\\[${db}\\]\\.resources\\[2\\]: `)),
      ]),
    );
    expect(issues).toHaveLength(4);
  });

  it("schema violations: a gateless later stage, a gated first stage, a bad type, an unknown field", async () => {
    const issues = await issuesOf(
      configWith((c) => {
        delete c.workflows[0].stages[1].gate;
        c.workflows[1].stages[0].gate = { attestations: [{ issuer: "ci", type: "x" }] };
        c.workflows[2].stages[0].grants[0].uses = "two";
        c.workflows[2].stages[0].grants[0].extra = true;
      }),
    );
    expect(issues).toEqual(
      expect.arrayContaining([
        "workflows[0].stages[1].gate: every stage after the first needs a gate",
        "workflows[1].stages[0].gate: the first stage cannot have a gate",
        expect.stringMatching(/^workflows\[2\]\.stages\[0\]\.grants\[0\]\.uses: /),
        expect.stringMatching(/^workflows\[2\]\.stages\[0\]\.grants\[0\]: .*extra/),
      ]),
    );
  });

  it("duplicate ids, unknown workflows in a client, private key material", async () => {
    const issues = await issuesOf(
      configWith((c) => {
        c.workflows.push(clone(c.workflows[0]));
        c.clients[0].workflows = ["deployment", "no-such-workflow"];
        c.attesters[0].keys[0].d = "AAAA";
      }),
    );
    expect(issues).toEqual(
      expect.arrayContaining([
        "attesters[0].keys[0].d: private key material (d) is not allowed here",
      ]),
    );
    // Schema issues are reported first; fix the key and the semantic ones surface.
    const semantic = await issuesOf(
      configWith((c) => {
        c.workflows.push(clone(c.workflows[0]));
        c.clients[0].workflows = ["deployment", "no-such-workflow"];
      }),
    );
    expect(semantic).toEqual(
      expect.arrayContaining([
        `workflows[${BUNDLED_EXAMPLE_CONFIG.workflows.length}].id: duplicate workflow id deployment`,
        "clients[0].workflows[1]: unknown workflow no-such-workflow",
      ]),
    );
  });

  it("a gate asking for more approvers than its group has, and an approver with a private key", async () => {
    const issues = await issuesOf(
      configWith((c) => {
        const reimbursement = c.workflows.findIndex((w: any) => w.id === "reimbursement");
        c.workflows[reimbursement].stages[1].gate.approvals.count = 4;
      }),
    );
    const index = BUNDLED_EXAMPLE_CONFIG.workflows.findIndex((w) => w.id === "reimbursement");
    expect(issues).toEqual([
      `workflows[${index}].stages[1].gate.approvals.count: needs 4 approvers of group finance-managers; the configuration has 3`,
    ]);
    const leaked = await issuesOf(
      configWith((c) => {
        c.approvers[1].keys[0].d = "AAAA";
      }),
    );
    expect(leaked).toEqual(["approvers[1].keys[0].d: private key material (d) is not allowed here"]);
  });

  it("a client key that is not a SHA-256 and a duplicate kid across attesters", async () => {
    const issues = await issuesOf(
      configWith((c) => {
        c.clients[1].key_sha256 = "dev-agent-key";
        c.attesters[1].keys[0].kid = c.attesters[0].keys[0].kid;
      }),
    );
    expect(issues).toEqual(
      expect.arrayContaining([
        "clients[1].key_sha256: 64 lowercase hex characters",
        `attesters[1].keys[0].kid: duplicate key id ${BUNDLED_EXAMPLE_CONFIG.attesters[0]?.keys?.[0]?.kid}`,
      ]),
    );
  });

  it("outside development the bundled examples are refused; a binding that is not JSON is named", async () => {
    await expect(loadConfig({ BATON_ENV: "production" })).rejects.toThrow(/BATON_CONFIG: required outside development/);
    await expect(loadConfig({ BATON_ENV: "production", BATON_CONFIG: "{not json" })).rejects.toThrow(/BATON_CONFIG: not JSON/);
    const dev = await loadConfig({ BATON_ENV: "development" });
    expect(dev.source).toBe("bundled-examples");
    expect([...dev.workflows.keys()].sort()).toEqual(["code-review", "data-migration", "deployment", "incident-response", "reimbursement", "release", "report-publication", "research-brief"]);
  });
});

describe("workflow versions", () => {
  it("the version hash is the RFC 8785 hash: key order does not change it, content does", async () => {
    const a = await compileWorkflow(deployment);
    const reordered = Object.fromEntries(Object.entries(clone(deployment)).reverse());
    const b = await compileWorkflow(reordered);
    expect(b.hash).toBe(a.hash);
    expect(a.hash).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const changed: any = clone(deployment);
    changed.stages[0].ttl_seconds = 601;
    expect((await compileWorkflow(changed)).hash).not.toBe(a.hash);
  });

  it("defaults are part of the version: an explicit default hashes like an omitted one", async () => {
    const explicit: any = clone(deployment);
    explicit.clock_skew_seconds = 5;
    expect((await compileWorkflow(explicit)).hash).toBe((await compileWorkflow(deployment)).hash);
  });
});
