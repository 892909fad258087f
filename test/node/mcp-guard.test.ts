import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { decodeProtectedHeader, exportJWK, generateKeyPair } from "jose";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { createDpopProof, createVerifier } from "../../src/verifier/index.js";
import { batonAuthorization, guardMcpServer } from "../../src/verifier/mcp.js";
import { type BatonUnderTest, DEV_KEY, batonUnderTest, startDeployment } from "../verifier/baton-under-test.js";

// The MCP guard in front of a real Baton (`wrangler dev`, test/node/global-setup.ts),
// with the SDK's own client and server, over Streamable HTTP and in memory (stdio's shape: no headers).
const baton: BatonUnderTest = await batonUnderTest();
const verifier = createVerifier({ issuer: baton.issuer, audience: "deployer", baseUrl: baton.base, apiKey: DEV_KEY.deployer });
const canary = { service: "checkout", version: "2.4.1", percent: 5 };

/** The side effects of the tools: each handler counts its runs. */
const ran = { canary: 0, rollout: 0, status: 0, receipts: [] as string[], outcomes: [] as string[] };

/** The deployer's MCP server: one tool registered before the guard, two after; all guarded. */
function deployerServer(): McpServer {
  const server = new McpServer({ name: "deployer", version: "1.0.0" });
  server.registerTool(
    "deploy.canary",
    {
      description: "Deploy a canary",
      inputSchema: { service: z.string(), version: z.string(), percent: z.number() },
      // A refusal must not trip the output schema check (server or client side).
      outputSchema: { deployed: z.string(), percent: z.number() },
    },
    async (args, extra) => {
      ran.canary++;
      const authorization = batonAuthorization(extra);
      if (!authorization) throw new Error("unguarded call");
      expect(extra._meta?.["baton/receipt"]).toBe(authorization.receipt);
      expect(authorization.capability.action).toBe("deploy.canary");
      ran.receipts.push(authorization.receipt);
      // The handler reports the outcome of what it did; Baton receipts it.
      ran.outcomes.push((await verifier.reportOutcome(authorization.receipt, "succeeded")).receipt);
      const deployed = `${args.service}@${args.version}`;
      return { content: [{ type: "text", text: `deployed ${deployed} to ${args.percent}%` }], structuredContent: { deployed, percent: args.percent } };
    },
  );
  guardMcpServer(server, verifier);
  server.registerTool("deploy.rollout", { inputSchema: { service: z.string(), version: z.string() } }, async () => {
    ran.rollout++;
    return { content: [{ type: "text", text: "rolled out" }] };
  });
  // No input schema: the SDK calls the handler with `extra` only.
  server.registerTool("status", { description: "Deployment status" }, async () => {
    ran.status++;
    return { content: [{ type: "text", text: "ok" }] };
  });
  return server;
}

/** One agent connection; `capability` goes where the transport carries it. */
interface Session {
  call(name: string, args?: Record<string, unknown>): Promise<CallToolResult>;
  close(): Promise<void>;
}

// Streamable HTTP, stateless: a fresh server and transport per POST, the capability in `Authorization`.
const http = createServer(async (req, res) => {
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
let mcpUrl: URL;
beforeAll(async () => {
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  mcpUrl = new URL(`http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`);
});
afterAll(() => new Promise<void>((resolve) => http.close(() => resolve())));

async function overHttp(capability?: string, extraHeaders: Record<string, string> = {}): Promise<Session> {
  const client = new Client({ name: "agent-7", version: "1.0.0" });
  const headers: Record<string, string> = { ...(capability ? { authorization: `Bearer ${capability}` } : {}), ...extraHeaders };
  await client.connect(new StreamableHTTPClientTransport(mcpUrl, { requestInit: { headers } }));
  await client.listTools(); // the client caches the output schemas and checks results against them
  return {
    call: async (name, args = {}) => (await client.callTool({ name, arguments: args })) as CallToolResult,
    close: () => client.close(),
  };
}

// In memory, like stdio: no headers, the capability in the call's `_meta`.
async function inMemory(capability?: string): Promise<Session> {
  const server = deployerServer();
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: "agent-7", version: "1.0.0" });
  await client.connect(clientSide);
  await client.listTools();
  const _meta = capability ? { "baton/capability": capability } : {};
  return {
    call: async (name, args = {}) => (await client.callTool({ name, arguments: args, _meta })) as CallToolResult,
    close: async () => {
      await client.close();
      await server.close();
    },
  };
}

function expectRefusal(result: CallToolResult, code: string, receipt: "receipt" | "none") {
  expect(result.isError).toBe(true);
  expect(result.structuredContent).toBeUndefined();
  expect(result.content).toHaveLength(1);
  expect(result.content[0]).toMatchObject({ type: "text", text: expect.stringMatching(new RegExp(`^${code}: .+`)) });
  expect(result._meta?.["baton/code"]).toBe(code);
  const signed = result._meta?.["baton/receipt"];
  const stage = result._meta?.["baton/current_stage"];
  if (receipt === "none") {
    expect(signed).toBeNull();
    expect(stage).toBeNull();
  } else {
    expect(decodeProtectedHeader(String(signed)).typ).toBe("baton-receipt+jwt");
    // Every sequence here is still in its first stage, as Baton's receipt of the refusal says.
    expect(stage).toBe("canary");
    expect(result.content[0]).toMatchObject({ text: expect.stringMatching(/\(Baton's receipt: the sequence is in stage canary\)$/) });
  }
}

beforeEach(() => {
  Object.assign(ran, { canary: 0, rollout: 0, status: 0, receipts: [], outcomes: [] });
});

describe.each([
  { transport: "Streamable HTTP (Authorization header)", connect: overHttp },
  { transport: "in-memory (_meta, as on stdio)", connect: inMemory },
])("MCP guard over $transport", ({ connect }) => {
  it("runs an allowed call's handler exactly once, with the receipt; the same capability again is REPLAY_NONCE", async () => {
    const { capability } = await startDeployment(baton);
    const session = await connect(capability);
    try {
      const result = await session.call("deploy.canary", canary);
      expect(result.isError).toBeFalsy();
      expect(result.structuredContent).toEqual({ deployed: "checkout@2.4.1", percent: 5 });
      expect(result.content[0]).toMatchObject({ type: "text", text: "deployed checkout@2.4.1 to 5%" });
      expect(ran.canary).toBe(1);
      expect(decodeProtectedHeader(ran.receipts[0]!).typ).toBe("baton-receipt+jwt");
      expect(decodeProtectedHeader(ran.outcomes[0]!).typ).toBe("baton-receipt+jwt");

      // Single use: the gate refuses the replay, receipts the refusal, and the handler does not run.
      expectRefusal(await session.call("deploy.canary", canary), "REPLAY_NONCE", "receipt");
      expect(ran.canary).toBe(1);
    } finally {
      await session.close();
    }
  });

  it("refuses a later stage's tool (SEQUENCE_VIOLATION) and one no stage grants (SCOPE_EXCEEDED), receipted, without running them or spending the capability", async () => {
    const { capability } = await startDeployment(baton);
    const session = await connect(capability);
    try {
      expectRefusal(await session.call("deploy.rollout", { service: "checkout", version: "2.4.1" }), "SEQUENCE_VIOLATION", "receipt");
      expect(ran.rollout).toBe(0);
      expectRefusal(await session.call("status"), "SCOPE_EXCEEDED", "receipt");
      expect(ran.status).toBe(0);
      // Refused offline and reported (receipted), never redeemed: the capability's one use is still there.
      expect((await session.call("deploy.canary", canary)).isError).toBeFalsy();
      expect(ran.canary).toBe(1);
    } finally {
      await session.close();
    }
  });

  it("refuses a call without a capability (UNAUTHENTICATED); nothing runs", async () => {
    const session = await connect();
    try {
      expectRefusal(await session.call("deploy.canary", canary), "UNAUTHENTICATED", "none");
      expectRefusal(await session.call("status"), "UNAUTHENTICATED", "none");
      expect(ran).toMatchObject({ canary: 0, rollout: 0, status: 0 });
    } finally {
      await session.close();
    }
  });

  it("refuses arguments outside the grant (CONDITION_FAILED), receipted; nothing runs", async () => {
    const { capability } = await startDeployment(baton);
    const session = await connect(capability);
    try {
      expectRefusal(await session.call("deploy.canary", { ...canary, percent: 50 }), "CONDITION_FAILED", "receipt");
      expectRefusal(await session.call("deploy.canary", { ...canary, service: "billing" }), "CONDITION_FAILED", "receipt");
      expect(ran.canary).toBe(0);
    } finally {
      await session.close();
    }
  });

  it("refuses a capability that is not a Baton token (TOKEN_INVALID) offline, without a receipt", async () => {
    const session = await connect("not.a.token");
    try {
      expectRefusal(await session.call("deploy.canary", canary), "TOKEN_INVALID", "none");
      expect(ran.canary).toBe(0);
    } finally {
      await session.close();
    }
  });
});

describe("guardMcpServer", () => {
  it("checks the DPoP proof of a capability bound to the agent's key (Streamable HTTP: POST to the MCP URL)", async () => {
    const { privateKey, publicKey } = await generateKeyPair("EdDSA", { extractable: true });
    const publicJwk = { ...(await exportJWK(publicKey)), kid: "agent-7-key", alg: "EdDSA" };
    const { capability } = await startDeployment(baton, { actor_jwk: publicJwk });
    const proof = (htu: string) => createDpopProof(privateKey, publicJwk, { htm: "POST", htu, accessToken: capability, iat: Math.floor(Date.now() / 1000) });

    // A stolen token alone, or with a proof made for another URL, is refused offline (the use is not spent) and receipted.
    const wrongProofs: Record<string, string>[] = [{}, { dpop: await proof("https://elsewhere.example/mcp") }];
    for (const headers of wrongProofs) {
      const session = await overHttp(undefined, { authorization: `DPoP ${capability}`, ...headers });
      try {
        expectRefusal(await session.call("deploy.canary", canary), "TOKEN_INVALID", "receipt");
      } finally {
        await session.close();
      }
    }
    expect(ran.canary).toBe(0);

    const session = await overHttp(undefined, { authorization: `DPoP ${capability}`, dpop: await proof(mcpUrl.href) });
    try {
      expect((await session.call("deploy.canary", canary)).isError).toBeFalsy();
      expect(ran.canary).toBe(1);
    } finally {
      await session.close();
    }
  });

  it("keeps a handler swapped in with RegisteredTool.update() guarded", async () => {
    const server = new McpServer({ name: "deployer", version: "1.0.0" });
    guardMcpServer(server, verifier);
    let swapped = 0;
    const tool = server.registerTool("deploy.canary", { inputSchema: { service: z.string(), version: z.string(), percent: z.number() } }, async () => ({
      content: [{ type: "text", text: "original" }],
    }));
    tool.update({
      callback: async () => {
        swapped++;
        return { content: [{ type: "text", text: "swapped" }] };
      },
    });
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await server.connect(serverSide);
    const client = new Client({ name: "agent-7", version: "1.0.0" });
    await client.connect(clientSide);
    try {
      expectRefusal((await client.callTool({ name: "deploy.canary", arguments: canary })) as CallToolResult, "UNAUTHENTICATED", "none");
      expect(swapped).toBe(0);
      const { capability } = await startDeployment(baton);
      const result = (await client.callTool({ name: "deploy.canary", arguments: canary, _meta: { "baton/capability": capability } })) as CallToolResult;
      expect(result.content[0]).toMatchObject({ text: "swapped" });
      expect(swapped).toBe(1);
    } finally {
      await client.close();
      await server.close();
    }
  });

  it("refuses to guard a server twice (a second guard would spend the single use twice)", () => {
    const server = guardMcpServer(new McpServer({ name: "deployer", version: "1.0.0" }), verifier);
    expect(() => guardMcpServer(server, verifier)).toThrow(/already guarded/);
  });

  it("refuses, when set up, a verifier without the tool's apiKey (every call would need the gate)", () => {
    const offline = createVerifier({ issuer: baton.issuer, audience: "deployer", baseUrl: baton.base });
    expect(() => guardMcpServer(new McpServer({ name: "deployer", version: "1.0.0" }), offline)).toThrow(/apiKey/);
  });

  it("a tool server whose own API key Baton refuses tells the agent so (TOOL_CREDENTIAL_REFUSED), and runs nothing", async () => {
    const { capability } = await startDeployment(baton);
    const wrong = createVerifier({ issuer: baton.issuer, audience: "deployer", baseUrl: baton.base, apiKey: "a-key-baton-does-not-know" });
    const server = guardMcpServer(new McpServer({ name: "deployer", version: "1.0.0" }), wrong);
    let runs = 0;
    server.registerTool("deploy.canary", { inputSchema: { service: z.string(), version: z.string(), percent: z.number() } }, async () => {
      runs++;
      return { content: [{ type: "text", text: "deployed" }] };
    });
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await server.connect(serverSide);
    const client = new Client({ name: "agent-7", version: "1.0.0" });
    await client.connect(clientSide);
    try {
      const result = (await client.callTool({ name: "deploy.canary", arguments: canary, _meta: { "baton/capability": capability } })) as CallToolResult;
      expectRefusal(result, "TOOL_CREDENTIAL_REFUSED", "none");
      expect(result.content[0]).toMatchObject({ text: expect.stringMatching(/this tool server's own API key/) });
      expect(runs).toBe(0);
    } finally {
      await client.close();
      await server.close();
    }
  });
});
