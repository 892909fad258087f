/**
 * MCP authorization (2026-07-28 revision) at the HTTP door of a guarded MCP server:
 * `guardMcpEndpoint(verifier, { resource, authorizationServer })`, from
 * `@baton-dev/verifier/mcp`. The MCP server is an OAuth resource server; Baton is its
 * authorization server and a Baton capability its access token. `handle(request)` takes a
 * web-standard Request (Workers, Hono, Bun, Deno; on Node through @hono/node-server, as the
 * SDK's own Node transport does) and answers it, or returns undefined to let it through.
 * Give it the requests to the MCP endpoint and to the two well-known paths: it does not
 * look at hosts or other paths, so a proxy's rewriting cannot route around it (a CORS
 * preflight to the endpoint, if browsers call it, is the server's to answer before it).
 *
 * - `GET /.well-known/oauth-protected-resource/<resource path>` (RFC 9728 §3) and the root
 *   `/.well-known/oauth-protected-resource` (MCP's extension for path-bearing endpoints):
 *   the Protected Resource Metadata, naming `resource` and Baton as `authorization_servers`;
 * - any other request without `Authorization: Bearer|DPoP <capability>`: 401,
 *   `WWW-Authenticate: Bearer resource_metadata="<metadataUrl>"`
 *   (RFC 6750 §3: no error code when the request carries no credential);
 * - a capability that does not verify, has expired, or is addressed to another resource
 *   (its `aud` lacks this tool's id, `verifier`'s `audience`): 401, `error="invalid_token"`;
 * - a `tools/call` whose tool the capability's stage does not grant — granted in another
 *   stage (SEQUENCE_VIOLATION: "the next stage is not open yet") or by none (SCOPE_EXCEEDED):
 *   403, `error="insufficient_scope"`, `scope="<action>"`. The refusal is reported to the
 *   gate, which receipts it; the body's JSON-RPC error carries the code, the receipt and the
 *   sequence's current stage (`baton/current_stage`), as a refused tool call's `_meta` does.
 * Every challenge with an `error` has `error_description="<CODE>: <message>"`, Baton's stable code.
 *
 * The door never spends the capability's use: everything else (the grant's `where` on
 * the arguments the handler will see, one-time use, the stage still current) is judged
 * by `guardMcpServer`'s tool guard, behind it, at the gate.
 *
 * The audience rule (RFC 8707): Baton addresses a capability to tools by id (`aud`), and the
 * gate itself requires the calling tool's id there; this resource's id is the verifier's
 * `audience`, and `resource` is bound to it by being configured on the same guard. A
 * capability for another tool is refused with 401 `invalid_token` (RFC 6750 §3.1, OAuth 2.1
 * §5.3: a token not valid for this resource), not 403: it is not a valid token lacking
 * scope, and a client answers 401 by getting a token for this `resource`.
 */
import { z } from "zod";
import { EVIDENCE_ALGORITHMS } from "../tokens/kinds.js";
import { VerifierError } from "./errors.js";
import { refusalMeta, refusalText } from "./mcp-refusal.js";
import type { ActionRequest, Verifier } from "./verifier.js";

/** RFC 9728 §3's well-known URI suffix. */
export const PROTECTED_RESOURCE_WELL_KNOWN = "/.well-known/oauth-protected-resource";

export interface GuardMcpEndpointOptions {
  /**
   * The MCP endpoint's canonical URL: its RFC 8707 / RFC 9728 resource identifier, as the
   * client dials it, e.g. `https://deployer.example.com/mcp`. https (http only on a loopback
   * host, for development); no query, no fragment.
   */
  resource: string;
  /** Baton's issuer URL (its `iss`), named as the authorization server in the metadata. */
  authorizationServer: string;
  /** The action a tool performs; default its name. Give `guardMcpServer` the same. */
  action?: (toolName: string) => string;
}

/** The RFC 9728 §2 document this endpoint serves. */
export interface ProtectedResourceMetadata {
  resource: string;
  authorization_servers: string[];
  bearer_methods_supported: ["header"];
  /** RFC 9728 §2: the proofs a capability bound to the agent's key (RFC 9449) is presented with. */
  dpop_signing_alg_values_supported: string[];
}

export interface McpEndpointGuard {
  readonly resource: string;
  /** Where the metadata is, as `resource_metadata` names it: the path-suffixed well-known URL. */
  readonly metadataUrl: string;
  readonly metadata: ProtectedResourceMetadata;
  /**
   * The answer to `request` — the metadata at the well-known paths; for any other request
   * 401, 403 (or 503 when Baton's keys cannot be had) — or undefined: hand it on to the MCP transport.
   */
  handle(request: Request): Promise<Response | undefined>;
}

/** RFC 6750 §3.1 errors, by Baton's code: a token not valid here, or a valid one lacking scope. */
const INVALID_TOKEN = new Set<string>(["TOKEN_INVALID", "TOKEN_EXPIRED", "AUDIENCE_MISMATCH"]);
const INSUFFICIENT_SCOPE = new Set<string>(["SCOPE_EXCEEDED", "SEQUENCE_VIOLATION"]);

/** What the door reads of a JSON-RPC message: a tool call, by its tool's name (the SDK checks the rest). */
const ToolCall = z.looseObject({
  method: z.literal("tools/call"),
  params: z.looseObject({ name: z.string(), arguments: z.record(z.string(), z.unknown()).optional() }),
});

/**
 * Guards an MCP endpoint with MCP authorization; put it in front of the MCP transport of a
 * server guarded with `guardMcpServer` (same verifier). Throws a TypeError on a bad option.
 */
export function guardMcpEndpoint(verifier: Verifier, options: GuardMcpEndpointOptions): McpEndpointGuard {
  const resource = resourceUrl(options.resource, "resource");
  resourceUrl(options.authorizationServer, "authorizationServer");
  if (!verifier.online) {
    throw new TypeError("guardMcpEndpoint: the verifier has no apiKey (the tool's Baton API key, role tool:<id>), so refusals cannot be receipted");
  }
  // RFC 9728 §3.1: the well-known segment goes between the host and the path (a terminating "/" dropped).
  const resourcePath = trimSlashes(resource.pathname);
  const metadataPath = `${PROTECTED_RESOURCE_WELL_KNOWN}${resourcePath}`;
  // The resource's path as written too, for a client that keeps its terminating "/" (the SDK drops it).
  const metadataPaths = new Set([metadataPath, `${PROTECTED_RESOURCE_WELL_KNOWN}${resource.pathname}`, PROTECTED_RESOURCE_WELL_KNOWN]);
  const metadataUrl = new URL(metadataPath, resource.origin).href;
  const metadata: ProtectedResourceMetadata = {
    // As configured, not re-serialized: a client compares it with what it dialed (RFC 9728 §3.3).
    resource: options.resource,
    authorization_servers: [options.authorizationServer],
    bearer_methods_supported: ["header"],
    dpop_signing_alg_values_supported: [...EVIDENCE_ALGORITHMS],
  };
  const document = JSON.stringify(metadata);
  const actionOf = options.action ?? ((name: string) => name);

  /** The challenge and JSON-RPC error body of a refusal at the door. */
  function refusal(error: VerifierError, scope?: string): Response {
    const params: [string, string][] = [];
    let status = error.status;
    if (INVALID_TOKEN.has(error.code)) {
      status = 401;
      params.push(["error", "invalid_token"]);
    } else if (INSUFFICIENT_SCOPE.has(error.code)) {
      status = 403;
      params.push(["error", "insufficient_scope"]);
      if (scope) params.push(["scope", scope]);
    } else if (error.code !== "UNAUTHENTICATED") {
      // Not about the token (ISSUER_UNAVAILABLE, …): no challenge, the status and the words.
      return jsonRpcError(status, error);
    }
    // The SDK client finds a parameter by the first `name=` in the header, anywhere: the
    // description, free text, comes last.
    params.push(["resource_metadata", metadataUrl]);
    if (error.code !== "UNAUTHENTICATED") params.push(["error_description", `${error.code}: ${error.message}`]);
    const challenge = `Bearer ${params.map(([name, value]) => `${name}="${quotable(value)}"`).join(", ")}`;
    return jsonRpcError(status, error, { "www-authenticate": challenge });
  }

  return {
    resource: options.resource,
    metadataUrl,
    metadata,
    async handle(request) {
      const url = new URL(request.url);
      if (metadataPaths.has(url.pathname)) {
        if (request.method !== "GET" && request.method !== "HEAD") return new Response(null, { status: 405, headers: { allow: "GET, HEAD" } });
        // Public and read by browser-based clients too.
        const headers = { "content-type": "application/json", "cache-control": "public, max-age=300", "access-control-allow-origin": "*" };
        return new Response(request.method === "HEAD" ? null : document, { status: 200, headers });
      }
      const token = /^(?:Bearer|DPoP) ([A-Za-z0-9_.-]+)$/i.exec(request.headers.get("authorization") ?? "")?.[1];
      if (!token) return refusal(new VerifierError("UNAUTHENTICATED", "a Baton capability is required (Authorization: Bearer <capability>)"));
      const proof = request.headers.get("dpop");
      const dpop: Partial<ActionRequest> = proof ? { dpop: { proof, htm: request.method, htu: request.url } } : {};
      const calls = request.method === "POST" ? await toolCalls(request) : [];
      let scope: string | undefined;
      try {
        if (calls.length === 0) await verifier.screen(token, dpop);
        for (const call of calls) {
          scope = actionOf(call.name);
          await verifier.screen(token, { ...dpop, action: scope, args: call.arguments ?? {} });
        }
      } catch (error) {
        if (error instanceof VerifierError) return refusal(error, scope);
        throw error;
      }
      return undefined;
    },
  };
}

/** The tool calls of a POST's JSON-RPC message or batch; none when the body is not JSON (the transport answers that). */
async function toolCalls(request: Request): Promise<z.infer<typeof ToolCall>["params"][]> {
  let body: unknown;
  try {
    body = JSON.parse(await request.clone().text());
  } catch {
    return [];
  }
  const messages = Array.isArray(body) ? body : [body];
  return messages.flatMap((message) => {
    const call = ToolCall.safeParse(message);
    return call.success ? [call.data.params] : [];
  });
}

/** An HTTP refusal whose body is a JSON-RPC error (Streamable HTTP: no id), with the refusal's `_meta` as `data`. */
function jsonRpcError(status: number, error: VerifierError, headers: Record<string, string> = {}): Response {
  const body = { jsonrpc: "2.0", id: null, error: { code: -32000, message: refusalText(error), data: refusalMeta(error) } };
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", "cache-control": "no-store", ...headers } });
}

function resourceUrl(value: string, name: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError(`guardMcpEndpoint: ${name} must be an absolute URL, got ${JSON.stringify(value)}`);
  }
  if (url.search || url.hash || value.includes("#")) throw new TypeError(`guardMcpEndpoint: ${name} must have no query and no fragment`);
  const loopback = url.hostname === "localhost" || url.hostname === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(url.hostname);
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) {
    throw new TypeError(`guardMcpEndpoint: ${name} must be https (http only on a loopback host), got ${value}`);
  }
  return url;
}

function trimSlashes(path: string): string {
  return path.replace(/\/+$/, "");
}

/** RFC 6750 §3: auth-param values are printable ASCII without `"` and `\`. */
function quotable(value: string): string {
  return value.replace(/["\\]/g, "'").replace(/[^\x20-\x7e]/g, "?").slice(0, 400);
}
