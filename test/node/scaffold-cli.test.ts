import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { WorkflowSchema } from "../../src/policy/workflow-schema.js";
import { freePort } from "./free-port.js";

// `baton scaffold --from-mcp` against a real MCP server (the SDK's McpServer over Streamable
// HTTP, listed by the SDK's client in the CLI) and against a saved tools/list result; the
// skeleton must validate with the workflow schema and pass `baton lint`.
const ROOT = join(import.meta.dirname, "..", "..");
const SAVED = join(ROOT, "test", "fixtures", "mcp", "payments-tools.json");
const dir = mkdtempSync(join(tmpdir(), "baton-scaffold-"));

/** Async, unlike spawnSync: the MCP server answering the CLI runs in this process. */
function baton(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, "src", "cli", "baton.mjs"), ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: "1" } }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
    });
  });
}

/** A deployer's MCP server; its tools/list answers only with the header the test sets. */
function deployerServer(): McpServer {
  const server = new McpServer({ name: "Deployer", version: "1.0.0" });
  const ok = async () => ({ content: [{ type: "text" as const, text: "ok" }] });
  server.registerTool("deploy.canary", { description: "Deploy a canary", inputSchema: { service: z.string(), version: z.string(), percent: z.number().int().max(100) } }, ok);
  server.registerTool("deploy.rollout", { inputSchema: { service: z.string(), version: z.string(), regions: z.array(z.string()).optional() }, annotations: { destructiveHint: true } }, ok);
  server.registerTool("status", { description: "Deployment status", annotations: { readOnlyHint: true } }, ok);
  return server;
}

let http: Server;
let url: string;
const seen: (string | undefined)[] = [];
beforeAll(async () => {
  http = createServer(async (req, res) => {
    seen.push(req.headers["x-test"] as string | undefined);
    if (req.method !== "POST") {
      res.writeHead(405).end();
      return;
    }
    const server = deployerServer();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on("close", () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res);
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => http.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

describe("baton scaffold --from-mcp", () => {
  it("a live server: one grant per tool, audience the server's name; valid and lint-clean", async () => {
    const { code, stdout, stderr } = await baton("scaffold", "--from-mcp", url, "--header", "X-Test: scaffold");
    expect(code, stderr).toBe(0);
    expect(seen).toContain("scaffold");
    const workflow = JSON.parse(stdout);
    expect(WorkflowSchema.safeParse(workflow).success).toBe(true);
    expect(workflow.id).toBe("deployer");
    expect(workflow.stages[0].grants).toEqual([
      { audience: "deployer", actions: ["deploy.canary"], uses: 1 },
      { audience: "deployer", actions: ["deploy.rollout"], uses: 1, effect: "write" },
      { audience: "deployer", actions: ["status"], uses: 1, effect: "read" },
    ]);
    // The suggestions go to stderr, so stdout alone is the workflow.
    expect(stderr).toContain("//   where:  args.service == params.service && args.version == params.version && args.percent <= params.percent_max");
    expect(stderr).toContain("(!has(args.regions) || args.regions.all(v, v in params.regions))");

    const out = join(dir, "deployer.json");
    const written = await baton("scaffold", "--from-mcp", url, "--out", out, "--audience", "deploy-tool", "--id", "rollout");
    expect(written.code, written.stderr).toBe(0);
    expect(written.stdout).toMatch(/^wrote .*deployer\.json \(3 grants to deploy-tool\) and .*deployer\.where\.json \(2 suggested conditions\)/);
    const file = JSON.parse(readFileSync(out, "utf8"));
    expect(file).toMatchObject({ id: "rollout", stages: [{ grants: [{ audience: "deploy-tool" }, {}, {}] }] });
    const side = JSON.parse(readFileSync(join(dir, "deployer.where.json"), "utf8"));
    expect(side.grants[0]).toMatchObject({ grant: "/stages/0/grants/0", tool: "deploy.canary", params: { percent_max: { type: "integer" } }, required: ["service", "version", "percent_max"] });

    const lint = await baton("lint", out, "--json");
    expect(lint.code, lint.stdout).toBe(0);
    expect(JSON.parse(lint.stdout)).toMatchObject({ errors: 0, warnings: 0 });
  });

  it("a saved tools/list result: the audience is the file's name unless given", async () => {
    const { code, stdout } = await baton("scaffold", "--from-mcp", SAVED);
    expect(code).toBe(0);
    const workflow = JSON.parse(stdout);
    expect(WorkflowSchema.safeParse(workflow).success).toBe(true);
    expect(workflow.stages[0].grants.map((g: any) => `${g.audience} ${g.actions[0]}`)).toEqual(["payments-tools payment.send", "payments-tools payment.list", "payments-tools health"]);
    const out = join(dir, "payments.json");
    expect((await baton("scaffold", "--from-mcp", SAVED, "--audience", "payments", "--out", out)).code).toBe(0);
    const lint = await baton("lint", out);
    expect(lint.code, lint.stdout).toBe(0);
    expect(lint.stdout).toMatch(/^1 workflow: 0 errors, 0 warnings$/m);
  });

  it("an unreachable server, a file that is no tools/list, and bad options exit 2 without a stack trace", async () => {
    const closed = `http://127.0.0.1:${await freePort()}/mcp`;
    const cases = [
      ["scaffold", "--from-mcp", closed],
      ["scaffold", "--from-mcp", join(ROOT, "examples", "workflows", "deployment.json")],
      ["scaffold", "--from-mcp", SAVED, "--audience", "Not An Id"],
      ["scaffold"],
      ["scaffold", "--from-mcp", SAVED, "--header", "no colon"],
    ];
    for (const args of cases) {
      const result = await baton(...args);
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
    }
  });
});
