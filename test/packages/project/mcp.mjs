// (c) The MCP guard: an McpServer (official SDK) over Streamable HTTP, guarded by
// @baton-dev/verifier/mcp, called by the SDK's own client with the capability in
// `Authorization`. The handler runs once, with the receipt; the replay is refused.
// Then the door (guardMcpEndpoint): the metadata the SDK discovers, the 401, the 403.
import { createServer } from "node:http";
import { createVerifier } from "@baton-dev/verifier";
import { batonAuthorization, guardMcpEndpoint, guardMcpServer } from "@baton-dev/verifier/mcp";
import { getRequestListener } from "@hono/node-server";
import { discoverOAuthProtectedResourceMetadata, extractWWWAuthenticateParams } from "@modelcontextprotocol/sdk/client/auth.js";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
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

// The door, web-standard, on Node through @hono/node-server; the same guarded server behind it.
const doorPort = await new Promise((resolve) => {
  const probe = createServer().listen(0, "127.0.0.1", () => {
    const { port } = probe.address();
    probe.close(() => resolve(port));
  });
});
const doorUrl = new URL(`http://127.0.0.1:${doorPort}/mcp`);
const endpoint = guardMcpEndpoint(verifier, { resource: doorUrl.href, authorizationServer: ISSUER });
const door = createServer(
  getRequestListener(async (request) => {
    const answered = await endpoint.handle(request);
    if (answered) return answered;
    const server = deployer();
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    await server.connect(transport);
    return transport.handleRequest(request);
  }),
);
await new Promise((resolve) => door.listen(doorPort, "127.0.0.1", resolve));
const metadata = await discoverOAuthProtectedResourceMetadata(doorUrl);
expect(metadata.resource === doorUrl.href && metadata.authorization_servers?.[0] === ISSUER, "MCP door: the SDK discovers the metadata", metadata);
const postTo = (body, headers = {}) =>
  fetch(doorUrl, { method: "POST", headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers }, body: JSON.stringify(body) });
const anonymous = await postTo({ jsonrpc: "2.0", id: 1, method: "tools/list" });
expect(anonymous.status === 401 && extractWWWAuthenticateParams(anonymous).resourceMetadataUrl?.href === endpoint.metadataUrl, "MCP door: 401 names the metadata", anonymous.status);
const { capability: early } = await startDeployment();
const skipped = await postTo({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "deploy.rollout", arguments: {} } }, { authorization: `Bearer ${early}` });
const challenge = extractWWWAuthenticateParams(skipped);
expect(skipped.status === 403 && challenge.error === "insufficient_scope" && challenge.scope === "deploy.rollout", "MCP door: 403 insufficient_scope", skipped.status);
door.close();
console.log(`node ${process.version} MCP door: metadata discovered; no capability → 401; another stage's tool → 403 insufficient_scope`);
