import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { getRequestListener } from "@hono/node-server";
import {
  type OAuthClientProvider,
  type OAuthDiscoveryState,
  discoverOAuthProtectedResourceMetadata,
  extractWWWAuthenticateParams,
} from "@modelcontextprotocol/sdk/client/auth.js";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport, StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { type CallToolResult, LATEST_PROTOCOL_VERSION } from "@modelcontextprotocol/sdk/types.js";
import { decodeProtectedHeader, exportJWK, generateKeyPair } from "jose";
import { signAttestation } from "../../src/client/index.js";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { createDpopProof, createVerifier } from "../../src/verifier/index.js";
import { guardMcpEndpoint, guardMcpServer } from "../../src/verifier/mcp.js";
import { type BatonUnderTest, DEV_KEY, batonUnderTest, call, startDeployment } from "../verifier/baton-under-test.js";
import { freePort } from "./free-port.js";

// MCP authorization (2026-07-28) at the door of a guarded MCP server: a real Baton (`wrangler
// dev`, test/node/global-setup.ts), the SDK's own server transport behind guardMcpEndpoint, and
// the SDK's own client — its discovery (RFC 9728), its 401 and 403 handling — or raw HTTP.
const baton: BatonUnderTest = await batonUnderTest();
const verifier = createVerifier({ issuer: baton.issuer, audience: "deployer", baseUrl: baton.base, apiKey: DEV_KEY.deployer });
const canary = { service: "checkout", version: "2.4.1", percent: 5 };
const rollout = { service: "checkout", version: "2.4.1" };
const mcpUrl = new URL(`http://127.0.0.1:${await freePort()}/mcp`);
const endpoint = guardMcpEndpoint(verifier, { resource: mcpUrl.href, authorizationServer: baton.issuer });
const metadataUrl = `${mcpUrl.origin}/.well-known/oauth-protected-resource/mcp`;

/** The side effects of the tools: each handler counts its runs. */
const ran = { canary: 0, rollout: 0, status: 0 };
beforeEach(() => {
  Object.assign(ran, { canary: 0, rollout: 0, status: 0 });
});

function deployerServer(): McpServer {
  const server = guardMcpServer(new McpServer({ name: "deployer", version: "1.0.0" }), verifier);
  server.registerTool("deploy.canary", { inputSchema: { service: z.string(), version: z.string(), percent: z.number() } }, async () => {
    ran.canary++;
    return { content: [{ type: "text", text: "canary deployed" }] };
  });
  server.registerTool("deploy.rollout", { inputSchema: { service: z.string(), version: z.string() } }, async () => {
    ran.rollout++;
    return { content: [{ type: "text", text: "rolled out" }] };
  });
  server.registerTool("status", {}, async () => {
    ran.status++;
    return { content: [{ type: "text", text: "ok" }] };
  });
  return server;
}

// Stateless Streamable HTTP, web-standard: the door first, then a fresh server and transport per POST.
const http = createServer(
  getRequestListener(async (request) => {
    const answered = await endpoint.handle(request);
    if (answered) return answered;
    if (request.method !== "POST") return new Response(null, { status: 405, headers: { allow: "POST" } });
    const server = deployerServer();
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    await server.connect(transport);
    const response = await transport.handleRequest(request);
    void server.close();
    return response;
  }),
);
beforeAll(() => new Promise<void>((resolve) => http.listen(Number(mcpUrl.port), "127.0.0.1", resolve)));
afterAll(() => new Promise<void>((resolve) => http.close(() => resolve())));

const initialize = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: "agent-7", version: "1.0.0" } },
};
const toolCall = (name: string, args: Record<string, unknown> = {}) => ({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name, arguments: args } });

/** One raw POST to the MCP endpoint, as a client sends it. */
function post(message: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(mcpUrl, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers },
    body: JSON.stringify(message),
  });
}

/** A refusal at the door: its status, the challenge as the SDK client parses it, Baton's code, and the JSON-RPC body. */
async function refusedAtTheDoor(response: Response, status: number, code: string) {
  expect(response.status).toBe(status);
  const challenge = response.headers.get("www-authenticate") ?? "";
  const params = extractWWWAuthenticateParams(response);
  expect(params.resourceMetadataUrl?.href).toBe(metadataUrl);
  const description = /error_description="([^"]*)"/.exec(challenge)?.[1];
  if (code === "UNAUTHENTICATED") expect(description).toBeUndefined();
  else expect(description).toMatch(new RegExp(`^${code}: .+`));
  const body = (await response.json()) as { jsonrpc: string; id: null; error: { code: number; message: string; data: Record<string, string | null> } };
  expect(body).toMatchObject({ jsonrpc: "2.0", id: null, error: { code: -32000, message: expect.stringMatching(new RegExp(`^${code}: `)) } });
  expect(body.error.data["baton/code"]).toBe(code);
  return { challenge, params, data: body.error.data, message: body.error.message };
}

/** A fetch for the SDK client that records every request and stands in for Baton's authorization server. */
function recordingFetch() {
  const requests: { method: string; url: string; body: string | undefined }[] = [];
  // Baton is named by its issuer and answers at this test's base URL; its metadata names endpoints at the latter.
  const batonOrigins = new Set([new URL(baton.issuer).origin, new URL(baton.base).origin]);
  const fetchFn: typeof fetch = async (input, init) => {
    const url = String(input instanceof Request ? input.url : input);
    requests.push({ method: init?.method ?? "GET", url, body: init?.body === undefined ? undefined : String(init.body) });
    // Baton's RFC 8414 metadata is fetched for real; the test stops at its other endpoints:
    // what they answer (the token exchange) is tested with them (test/node/oauth4webapi.test.ts).
    if (batonOrigins.has(new URL(url).origin)) {
      const { pathname } = new URL(url);
      if (pathname === "/.well-known/oauth-authorization-server") return fetch(`${baton.base}${pathname}`, init);
      throw new TypeError(`the test does not go on to the authorization server (${url})`);
    }
    return fetch(input, init);
  };
  return { requests, fetchFn };
}

/** An agent's OAuth client as the SDK sees it: pre-registered, holding `capability` as its access token if given. */
function agentProvider(options: { capability?: string; interactive: boolean }) {
  const seen = { discovered: [] as OAuthDiscoveryState[], redirectedTo: [] as URL[] };
  const provider: OAuthClientProvider = {
    redirectUrl: options.interactive ? "http://127.0.0.1/agent-7/callback" : undefined,
    clientMetadata: { client_name: "agent-7", redirect_uris: options.interactive ? ["http://127.0.0.1/agent-7/callback"] : [] },
    clientInformation: () => ({ client_id: "agent-7" }),
    tokens: () => (options.capability ? { access_token: options.capability, token_type: "Bearer" } : undefined),
    saveTokens: () => {},
    redirectToAuthorization: (url) => {
      seen.redirectedTo.push(url);
    },
    saveCodeVerifier: () => {},
    codeVerifier: () => "unused",
    saveDiscoveryState: (state) => {
      seen.discovered.push(state);
    },
    // Non-interactive: an RFC 8693 token exchange, what an agent would ask Baton for.
    prepareTokenRequest: () =>
      new URLSearchParams({ grant_type: "urn:ietf:params:oauth:grant-type:token-exchange", subject_token: "agent-7", subject_token_type: "urn:ietf:params:oauth:token-type:jwt" }),
  };
  return { provider, seen };
}

async function connected(capability: string) {
  const client = new Client({ name: "agent-7", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(mcpUrl, { requestInit: { headers: { authorization: `Bearer ${capability}` } } }));
  await client.listTools();
  return {
    call: async (name: string, args: Record<string, unknown> = {}) => (await client.callTool({ name, arguments: args })) as CallToolResult,
    close: () => client.close(),
  };
}

describe("MCP authorization at the door of a guarded MCP server", () => {
  it("serves the protected-resource metadata (RFC 9728) at the path-suffixed and the root well-known URL; the SDK client discovers it", async () => {
    const expected = {
      resource: mcpUrl.href,
      authorization_servers: [baton.issuer],
      bearer_methods_supported: ["header"],
      dpop_signing_alg_values_supported: ["EdDSA", "ES256"],
    };
    expect(endpoint.metadataUrl).toBe(metadataUrl);
    expect(endpoint.metadata).toEqual(expected);
    for (const url of [metadataUrl, `${mcpUrl.origin}/.well-known/oauth-protected-resource`]) {
      const response = await fetch(url);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toBe("application/json");
      expect(await response.json()).toEqual(expected);
    }
    // The SDK's own discovery, from the server URL alone: the path-suffixed URL first (RFC 9728 §3.1).
    const { requests, fetchFn } = recordingFetch();
    expect(await discoverOAuthProtectedResourceMetadata(mcpUrl, undefined, fetchFn)).toEqual(expected);
    expect(requests.map((r) => r.url)).toEqual([metadataUrl]);
    const wrongMethod = await fetch(metadataUrl, { method: "POST" });
    expect([wrongMethod.status, wrongMethod.headers.get("allow")]).toEqual([405, "GET, HEAD"]);
  });

  it("answers every request without a capability 401 with the challenge naming the metadata; nothing runs", async () => {
    for (const message of [initialize, toolCall("deploy.canary", canary)]) {
      const { challenge, params } = await refusedAtTheDoor(await post(message), 401, "UNAUTHENTICATED");
      // RFC 6750 §3.1: no error code for a request with no credential.
      expect(challenge).toBe(`Bearer resource_metadata="${metadataUrl}"`);
      expect(params.error).toBeUndefined();
    }
    // A capability in `_meta` is for stdio: over HTTP, MCP authorization puts it in Authorization.
    const { capability } = await startDeployment(baton);
    await refusedAtTheDoor(await post({ ...toolCall("deploy.canary", canary), params: { name: "deploy.canary", arguments: canary, _meta: { "baton/capability": capability } } }), 401, "UNAUTHENTICATED");
    expect(ran).toEqual({ canary: 0, rollout: 0, status: 0 });
    // The SDK client without an auth provider stops at the 401.
    const client = new Client({ name: "agent-7", version: "1.0.0" });
    const refused = await client.connect(new StreamableHTTPClientTransport(mcpUrl)).then(() => null, (error: unknown) => error);
    expect(refused).toBeInstanceOf(StreamableHTTPError);
    expect((refused as StreamableHTTPError).code).toBe(401);
  });

  it("the SDK client follows the 401 to the metadata, and from it to Baton as the authorization server, asking for this resource (RFC 8707)", async () => {
    const { requests, fetchFn } = recordingFetch();
    const { provider, seen } = agentProvider({ interactive: false });
    const client = new Client({ name: "agent-7", version: "1.0.0" });
    await expect(client.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider, fetch: fetchFn }))).rejects.toThrow(
      /does not go on to the authorization server/,
    );
    // The 401, then the metadata at the URL the challenge named, then Baton (its issuer URL, from the metadata).
    expect(requests[0]).toMatchObject({ method: "POST", url: mcpUrl.href });
    expect(requests[1]).toMatchObject({ method: "GET", url: metadataUrl });
    const rest = requests.slice(2);
    expect(rest.length).toBeGreaterThan(0);
    expect(rest.every((r) => [baton.issuer, baton.base].map((u) => new URL(u).origin).includes(new URL(r.url).origin))).toBe(true);
    expect(rest[0]?.url).toBe(new URL("/.well-known/oauth-authorization-server", baton.issuer).href);
    expect(seen.discovered[0]).toMatchObject({ authorizationServerUrl: baton.issuer, resourceMetadata: endpoint.metadata });
    // Baton's own RFC 8414 metadata, parsed by the SDK, names its token endpoint: where the token request went.
    const discovered = seen.discovered.find((d) => d.authorizationServerMetadata);
    expect(discovered?.authorizationServerMetadata?.token_endpoint).toBe(new URL("/oauth/token", baton.base).href);
    // The token request it sends Baton names this MCP server as the resource.
    const tokenRequest = rest.find((r) => r.method === "POST");
    expect(new URLSearchParams(tokenRequest?.body).get("resource")).toBe(mcpUrl.href);
    expect(ran).toEqual({ canary: 0, rollout: 0, status: 0 });
  });

  it("a capability in Authorization passes the door: the SDK client lists and calls; the gate refuses the replay as a tool error naming the current stage", async () => {
    const { capability } = await startDeployment(baton);
    const session = await connected(capability);
    try {
      expect((await session.call("deploy.canary", canary)).isError).toBeFalsy();
      expect(ran.canary).toBe(1);
      // The door judges the token offline; the single use is the gate's.
      const replay = await session.call("deploy.canary", canary);
      expect(replay.isError).toBe(true);
      expect(replay._meta).toMatchObject({ "baton/code": "REPLAY_NONCE", "baton/current_stage": "canary" });
      expect(replay.content[0]).toMatchObject({ text: expect.stringMatching(/^REPLAY_NONCE: .+ \(Baton's receipt: the sequence is in stage canary\)$/) });
      expect(ran.canary).toBe(1);
    } finally {
      await session.close();
    }
  });

  it("a tool of a stage not open yet, or of none: 403 insufficient_scope with Baton's code, receipted, naming the current stage; the use is not spent", async () => {
    const { seq, capability } = await startDeployment(baton);
    const bearer = { authorization: `Bearer ${capability}` };
    const skipped = await refusedAtTheDoor(await post(toolCall("deploy.rollout", rollout), bearer), 403, "SEQUENCE_VIOLATION");
    expect(skipped.params).toMatchObject({ error: "insufficient_scope", scope: "deploy.rollout" });
    expect(skipped.data["baton/current_stage"]).toBe("canary");
    expect(skipped.message).toMatch(/granted to deployer in stage rollout.*\(Baton's receipt: the sequence is in stage canary\)$/);
    expect(decodeProtectedHeader(String(skipped.data["baton/receipt"])).typ).toBe("baton-receipt+jwt");
    const ungranted = await refusedAtTheDoor(await post(toolCall("status"), bearer), 403, "SCOPE_EXCEEDED");
    expect(ungranted.params).toMatchObject({ error: "insufficient_scope", scope: "status" });
    expect(ran).toEqual({ canary: 0, rollout: 0, status: 0 });
    // Both attempts are in the sequence's chain; the capability's use is still there.
    const chain = await baton.fetch(`${baton.base}/v1/sequences/${seq}/receipts`, { headers: { authorization: `Bearer ${DEV_KEY.auditor}` } });
    const lines = (await chain.text()).trim().split("\n");
    expect(lines).toEqual(expect.arrayContaining([skipped.data["baton/receipt"], ungranted.data["baton/receipt"]]));
    const session = await connected(capability);
    try {
      expect((await session.call("deploy.canary", canary)).isError).toBeFalsy();
      expect(ran.canary).toBe(1);
    } finally {
      await session.close();
    }
  });

  it("the SDK client answers the 403 by discovering Baton again, and stops there: Baton's metadata offers no code flow to step up through", async () => {
    const { capability } = await startDeployment(baton);
    const { requests, fetchFn } = recordingFetch();
    const { provider, seen } = agentProvider({ capability, interactive: true });
    const client = new Client({ name: "agent-7", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider, fetch: fetchFn }));
    try {
      // It read the 403's challenge (the metadata again), then Baton's RFC 8414 metadata, whose empty
      // response_types_supported makes the SDK refuse the authorization-code step-up before sending the
      // agent anywhere: an agent moves to the next stage's capability with evidence, or with the token
      // exchange at /oauth/token (test/node/oauth4webapi.test.ts), never through a browser redirect.
      await expect(client.callTool({ name: "deploy.rollout", arguments: rollout })).rejects.toThrow(/does not support response type code/);
      expect(requests.some((r) => r.url === metadataUrl)).toBe(true);
      expect(requests.some((r) => new URL(r.url).pathname === "/.well-known/oauth-authorization-server")).toBe(true);
      expect(seen.redirectedTo).toEqual([]);
      expect(ran.rollout).toBe(0);
    } finally {
      await client.close();
    }
  });

  it("a capability for another resource is refused 401 invalid_token (RFC 8707 audience, RFC 6750), as is junk; nothing runs", async () => {
    const started = await call(baton, "POST", "/v1/sequences", DEV_KEY.orchestrator, {
      workflow: "data-migration",
      params: { table: "orders", backup: "orders-2026" },
      subject: "user:alice",
      actor: "agent-7",
    });
    expect(started.status).toBe(201);
    const forDb = { authorization: `Bearer ${started.body.capability}` };
    const listing = await refusedAtTheDoor(await post(initialize, forDb), 401, "AUDIENCE_MISMATCH");
    expect(listing.params.error).toBe("invalid_token");
    // Nothing was attempted with it: no report, no receipt.
    expect(listing.data["baton/receipt"]).toBeNull();
    // A tool call with it is an attempt: reported to the gate, in the other sequence's chain.
    const attempt = await refusedAtTheDoor(await post(toolCall("deploy.canary", canary), forDb), 401, "AUDIENCE_MISMATCH");
    expect(attempt.params.error).toBe("invalid_token");
    expect(decodeProtectedHeader(String(attempt.data["baton/receipt"])).typ).toBe("baton-receipt+jwt");
    expect(attempt.data["baton/current_stage"]).toBe("backup");

    const junk = await refusedAtTheDoor(await post(toolCall("deploy.canary", canary), { authorization: "Bearer not.a.token" }), 401, "TOKEN_INVALID");
    expect([junk.params.error, junk.data["baton/receipt"]]).toEqual(["invalid_token", null]);
    expect(ran).toEqual({ canary: 0, rollout: 0, status: 0 });
  });

  it("once the sequence has moved on, the old stage's capability is told which stage is open, at the door and at the gate", async () => {
    const { seq, capability } = await startDeployment(baton);
    const session = await connected(capability);
    let next: string;
    try {
      expect((await session.call("deploy.canary", canary)).isError).toBeFalsy();
      const advanced = await call(baton, "POST", `/v1/sequences/${seq}/evidence`, DEV_KEY.agent, { attestation: await canaryPassed(seq) });
      expect([advanced.status, advanced.body.stage]).toEqual([200, "rollout"]);
      next = String(advanced.body.capability);

      // The old capability does not grant the rollout (the door, 403); the gate refuses its own stage (a tool error).
      const atTheDoor = await refusedAtTheDoor(await post(toolCall("deploy.rollout", rollout), { authorization: `Bearer ${capability}` }), 403, "SEQUENCE_VIOLATION");
      expect(atTheDoor.data["baton/current_stage"]).toBe("rollout");
      // The offline words know only the token's stage; Baton's receipt knows the sequence's.
      expect(atTheDoor.message).toMatch(/^SEQUENCE_VIOLATION: .+ \(Baton's receipt: the sequence is in stage rollout\)$/);
      const atTheGate = await session.call("deploy.canary", canary);
      expect(atTheGate._meta).toMatchObject({ "baton/code": "SEQUENCE_VIOLATION", "baton/current_stage": "rollout" });
      expect(ran.canary).toBe(1);
    } finally {
      await session.close();
    }
    // The open stage's capability passes the door and the gate.
    const opened = await connected(next);
    try {
      expect((await opened.call("deploy.rollout", rollout)).isError).toBeFalsy();
      expect(ran.rollout).toBe(1);
    } finally {
      await opened.close();
    }
  });

  it("a capability bound to the agent's key needs its DPoP proof at the door too (RFC 9449)", async () => {
    const { privateKey, publicKey } = await generateKeyPair("EdDSA", { extractable: true });
    const publicJwk = { ...(await exportJWK(publicKey)), kid: "agent-7-key", alg: "EdDSA" };
    const { capability } = await startDeployment(baton, { actor_jwk: publicJwk });
    const proof = (htu: string) => createDpopProof(privateKey, publicJwk, { htm: "POST", htu, accessToken: capability, iat: Math.floor(Date.now() / 1000) });
    const bound = { authorization: `DPoP ${capability}` };
    for (const headers of [bound, { ...bound, dpop: await proof("https://elsewhere.example/mcp") }]) {
      const refused = await refusedAtTheDoor(await post(initialize, headers), 401, "TOKEN_INVALID");
      expect(refused.params.error).toBe("invalid_token");
    }
    const passed = await post(toolCall("deploy.canary", canary), { ...bound, dpop: await proof(mcpUrl.href) });
    expect(passed.status).toBe(200);
    expect(((await passed.json()) as { result: CallToolResult }).result.isError).toBeFalsy();
    expect(ran.canary).toBe(1);
  });

  it("refuses, when set up, a resource or authorization server that is not a plain https URL, and a verifier without the tool's apiKey", async () => {
    const good = { resource: "https://deployer.example.com/mcp", authorizationServer: "https://baton.example.com" };
    expect(guardMcpEndpoint(verifier, good).metadataUrl).toBe("https://deployer.example.com/.well-known/oauth-protected-resource/mcp");
    expect(guardMcpEndpoint(verifier, { ...good, resource: "https://deployer.example.com" }).metadataUrl).toBe(
      "https://deployer.example.com/.well-known/oauth-protected-resource",
    );
    // A terminating "/": the metadata is where the SDK looks (without it) and where RFC 9728 §3.1 puts it (with it).
    const slashed = guardMcpEndpoint(verifier, { ...good, resource: "https://deployer.example.com/mcp/" });
    for (const path of ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource/mcp/"]) {
      const answer = await slashed.handle(new Request(`https://deployer.example.com${path}`));
      expect(await answer?.json()).toMatchObject({ resource: "https://deployer.example.com/mcp/" });
    }
    for (const resource of ["/mcp", "https://deployer.example.com/mcp?tenant=1", "https://deployer.example.com/mcp#x", "http://deployer.example.com/mcp"]) {
      expect(() => guardMcpEndpoint(verifier, { ...good, resource })).toThrow(TypeError);
    }
    expect(() => guardMcpEndpoint(verifier, { ...good, authorizationServer: "http://baton.example.com" })).toThrow(/https/);
    const offline = createVerifier({ issuer: baton.issuer, audience: "deployer", baseUrl: baton.base });
    expect(() => guardMcpEndpoint(offline, good)).toThrow(/apiKey/);
  });
});

/** The monitor's attestation that this sequence's canary passed (examples/keys, the development attester). */
async function canaryPassed(seq: string): Promise<string> {
  const { "//": _comment, ...privateJwk } = JSON.parse(readFileSync(new URL("../../examples/keys/monitor.private.jwk.json", import.meta.url), "utf8"));
  return signAttestation({ privateJwk, attester: "monitor", seq, stage: "canary", type: "canary_passed", facts: { service: "checkout", version: "2.4.1", error_rate: 0.001 } });
}
