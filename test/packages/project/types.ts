// The packages' declarations, as a TypeScript user sees them (tsc --noEmit, strict): every
// export resolves, and misuse is a type error — the @ts-expect-error lines fail the check if
// a type degrades to `any` (an import the package's declarations cannot resolve, say).
import { BatonClientError, type Decision, createClient } from "@baton-dev/client";
import { type ChainVerdict, verifyReceiptChain } from "@baton-dev/cli/audit";
import { type Authorized, VerifierError, type VerifierCode, createVerifier } from "@baton-dev/verifier";
import { type CapabilityVariables, requireCapability } from "@baton-dev/verifier/hono";
import { type McpEndpointGuard, batonAuthorization, guardMcpEndpoint, guardMcpServer } from "@baton-dev/verifier/mcp";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { Hono } from "hono";

const verifier = createVerifier({ issuer: "http://localhost:8787", baseUrl: "http://127.0.0.1:8787", audience: "deployer", apiKey: "k" });
const authorized: Promise<Authorized> = verifier.authorize("token", { action: "deploy.canary", args: { percent: 5 } });
const code: VerifierCode = new VerifierError("REPLAY_NONCE", "again").code;
// @ts-expect-error: a code that is not in Baton's table
const wrong: VerifierCode = "NOT_A_CODE";

const app = new Hono<{ Variables: CapabilityVariables }>();
app.post("/deploy", requireCapability(verifier, { action: "deploy.canary" }), (c) => c.json({ receipt: c.get("receipt") }));
guardMcpServer(new McpServer({ name: "deployer", version: "1.0.0" }), verifier);
const extraAuthorization = batonAuthorization;
const door: McpEndpointGuard = guardMcpEndpoint(verifier, { resource: "https://deployer.example.com/mcp", authorizationServer: "http://localhost:8787" });
const answered: Promise<Response | undefined> = door.handle(new Request("https://deployer.example.com/mcp"));
// @ts-expect-error: the resource identifier is required
guardMcpEndpoint(verifier, { authorizationServer: "http://localhost:8787" });

const client = createClient({ baseUrl: "http://localhost:8787", apiKey: "dev-orchestrator-key" });
const started = client.orchestrator.start({ workflow: "deployment", params: {}, subject: "user:alice", actor: "agent-7" });
// @ts-expect-error: `workflow` is required by the server's own schema
client.orchestrator.start({ params: {}, subject: "user:alice", actor: "agent-7" });
const decision: Decision | undefined = undefined;
const isRefusal = (e: unknown) => e instanceof BatonClientError && e.code === "SCOPE_EXCEEDED";
const verdict: Promise<ChainVerdict> | undefined = undefined;
const chainCheck = verifyReceiptChain;

export { authorized, code, wrong, started, decision, isRefusal, verdict, chainCheck, extraAuthorization, answered };
