// (c) The MCP guard: an McpServer (official SDK) over Streamable HTTP, guarded by
// @baton-dev/verifier/mcp, called by the SDK's own client with the capability in
// `Authorization`. The handler runs once, with the receipt; the replay is refused.
import { createServer } from "node:http";
import { createVerifier } from "@baton-dev/verifier";
import { batonAuthorization, guardMcpServer } from "@baton-dev/verifier/mcp";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { z } from "zod";
import { BATON_URL, CANARY, ISSUER, TOOL_KEY, expect, startDeployment } from "./common.mjs";

const verifier = createVerifier({ issuer: ISSUER, baseUrl: BATON_URL, audience: "deployer", apiKey: TOOL_KEY });
let runs = 0;

function deployer() {
  const server = guardMcpServer(new McpServer({ name: "deployer", version: "1.0.0" }), verifier);
  server.registerTool("deploy.canary", { inputSchema: { service: z.string(), version: z.string(), percent: z.number() } }, async (args, extra) => {
    const authorization = batonAuthorization(extra);
    if (!authorization) throw new Error("unguarded call");
    runs++;
    await verifier.reportOutcome(authorization.receipt, "succeeded");
    return { content: [{ type: "text", text: `deployed ${args.service}@${args.version} to ${args.percent}%` }] };
  });
  return server;
}

// Stateless Streamable HTTP: a fresh server and transport per POST.
const http = createServer(async (req, res) => {
  const server = deployer();
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  res.on("close", () => {
    void transport.close();
    void server.close();
  });
  await server.connect(transport);
  await transport.handleRequest(req, res);
});
await new Promise((resolve) => http.listen(0, "127.0.0.1", resolve));
const url = new URL(`http://127.0.0.1:${http.address().port}/mcp`);

const { seq, capability } = await startDeployment();
const client = new Client({ name: "agent-7", version: "1.0.0" });
await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers: { authorization: `Bearer ${capability}` } } }));
const first = await client.callTool({ name: "deploy.canary", arguments: CANARY });
expect(!first.isError && first.content[0]?.text === "deployed checkout@2.4.1 to 5%" && runs === 1, "MCP: the guarded tool ran once", first);
const again = await client.callTool({ name: "deploy.canary", arguments: CANARY });
expect(again.isError && again._meta?.["baton/code"] === "REPLAY_NONCE" && runs === 1, "MCP: the replay is refused, the handler not run", again);
await client.close();
http.close();
console.log(`node ${process.version} MCP guard ALLOW (handler ran once, outcome reported); replay → REPLAY_NONCE  seq ${seq}`);
