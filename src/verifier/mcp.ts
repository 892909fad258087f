/**
 * Baton's MCP guard: `import { guardMcpServer } from "@baton-dev/verifier/mcp"`.
 *
 * `guardMcpServer(server, verifier, options?)` makes every tool of an `McpServer`
 * (`@modelcontextprotocol/sdk`, an optional peer) require a Baton capability: the
 * tools registered before the call and every tool registered after it, whichever way
 * (`registerTool`, the deprecated `tool`, `experimental.tasks.registerToolTask`, and a
 * handler swapped in later with `RegisteredTool.update({ callback })`). The tool's
 * name is the action (or `options.action(name)`), its validated arguments are the
 * args; `verifier.authorize` (offline check, then the one-time gate) runs before the
 * handler, with the arguments the handler will see.
 *
 * The capability, per call, comes from (default; replace with `options.capability`):
 * 1. the request's `_meta["baton/capability"]`: every transport, stdio included;
 * 2. the HTTP `Authorization: Bearer <token>` (or `DPoP <token>`) header on Streamable
 *    HTTP, unless the HTTP layer already took that token as its own OAuth token
 *    (`extra.authInfo.token`).
 * A capability bound to the agent's key (`cnf.jkt`) needs a DPoP proof: by default the
 * HTTP `DPoP` header, checked against `POST` and the MCP endpoint's URL; on stdio,
 * supply `options.dpop`.
 *
 * A refusal of a genuine capability by the offline check is receipted at the gate
 * too (see `Verifier.authorize`), so `baton/receipt` is set for it; only junk (a bad
 * signature, an unknown key) has none. A verifier without `apiKey` is refused here.
 *
 * On refusal the handler never runs and the call answers an MCP tool error (not a
 * JSON-RPC error, so the agent sees it), with no `structuredContent`, so tools with
 * an `outputSchema` still validate:
 *   { isError: true, content: [{ type: "text", text: "REPLAY_NONCE: … (Baton's receipt: the sequence is in stage rollout)" }],
 *     _meta: { "baton/code": "REPLAY_NONCE", "baton/receipt": "<jws>" | null, "baton/current_stage": "rollout" | null } }
 * `baton/current_stage` is the stage the sequence is in, as Baton's signed receipt of
 * the refusal records it: after SEQUENCE_VIOLATION, the one that is open.
 * On success the handler gets an `extra` whose `_meta["baton/receipt"]` is Baton's
 * ALLOW receipt; `batonAuthorization(extra)` returns `{ capability, receipt, sealed }`
 * typed, e.g. for `verifier.reportOutcome(receipt, "succeeded")`.
 *
 * @example
 * const verifier = createVerifier({ issuer, audience: "deployer", apiKey });
 * const server = new McpServer({ name: "deployer", version: "1.0.0" });
 * guardMcpServer(server, verifier);
 * server.registerTool("deploy.canary", { inputSchema: { service: z.string(), percent: z.number() } }, async (args, extra) => {
 *   const { receipt } = batonAuthorization(extra)!;
 *   await deploy(args);
 *   await verifier.reportOutcome(receipt, "succeeded");
 *   return { content: [{ type: "text", text: "deployed" }] };
 * });
 *
 * It hooks two internals of `McpServer` (`_createRegisteredTool`, through which every
 * registration goes, and `_registeredTools`), as the SDK's own experimental task API
 * does; if a future SDK renames them, `guardMcpServer` throws rather than guard nothing.
 *
 * Over HTTP, `guardMcpEndpoint` (./mcp-endpoint.ts) adds MCP authorization at the door:
 * the RFC 9728 metadata, the 401 challenge, 403 `insufficient_scope`.
 */
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { RequestHandlerExtra } from "@modelcontextprotocol/sdk/shared/protocol.js";
import type { ServerNotification, ServerRequest } from "@modelcontextprotocol/sdk/types.js";
import { VerifierError } from "./errors.js";
import { RECEIPT_META, refusalResult, refusalText } from "./mcp-refusal.js";
import type { ActionRequest, Authorized, Verifier } from "./verifier.js";

export { CODE_META, CURRENT_STAGE_META, RECEIPT_META, type RefusalMeta, type RefusalResult, refusalResult } from "./mcp-refusal.js";
export { guardMcpEndpoint, type GuardMcpEndpointOptions, type McpEndpointGuard, type ProtectedResourceMetadata } from "./mcp-endpoint.js";

/** What a tool handler receives as its last argument. */
export type ToolCallExtra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** Request `_meta` key carrying the capability (stdio, or any transport). */
export const CAPABILITY_META = "baton/capability";

export interface GuardMcpServerOptions {
  /** Where the capability is; default `_meta["baton/capability"]`, then `Authorization` (see above). */
  capability?: (extra: ToolCallExtra) => string | undefined;
  /** The agent's DPoP proof for a bound capability; default the HTTP `DPoP` header with `POST` and the request URL. */
  dpop?: (extra: ToolCallExtra, action: string) => ActionRequest["dpop"] | undefined;
  /** The action a tool performs; default its name (MCP tool names allow `.`, e.g. `deploy.canary`). */
  action?: (toolName: string) => string;
}

type Handler = (...params: unknown[]) => unknown;
type TaskHandler = { createTask: Handler };
type Tool = { handler: unknown };
type Internals = {
  _registeredTools?: Record<string, Tool>;
  _createRegisteredTool?: (name: string, ...rest: unknown[]) => Tool;
};

const guardedServers = new WeakSet<object>();
const authorizations = new WeakMap<object, Authorized>();

/**
 * Requires a Baton capability for every tool of `server`, present and future.
 * Call it once per server (a second call throws: a capability is single-use, two
 * guards would spend it twice). Returns the server.
 */
export function guardMcpServer<S extends McpServer>(server: S, verifier: Verifier, options: GuardMcpServerOptions = {}): S {
  const internals = server as unknown as Internals;
  const registry = internals._registeredTools;
  const create = internals._createRegisteredTool;
  if (typeof registry !== "object" || registry === null || typeof create !== "function") {
    throw new TypeError("guardMcpServer: this McpServer has no _registeredTools/_createRegisteredTool; unsupported @modelcontextprotocol/sdk version");
  }
  if (guardedServers.has(server)) throw new TypeError("guardMcpServer: this server is already guarded");
  if (!verifier.online) {
    throw new TypeError("guardMcpServer: the verifier has no apiKey (the tool's Baton API key, role tool:<id>), so it cannot call the gate");
  }
  guardedServers.add(server);

  const authorizeCall = async (tool: Tool, registeredName: string, args: unknown, extra: ToolCallExtra) => {
    // The name it answers to now (RegisteredTool.update can rename it).
    const name = Object.entries(internals._registeredTools ?? {}).find(([, t]) => t === tool)?.[0] ?? registeredName;
    const action = options.action ? options.action(name) : name;
    const token = (options.capability ?? capabilityOf)(extra);
    if (!token) {
      throw new VerifierError("UNAUTHENTICATED", `a Baton capability is required (_meta["${CAPABILITY_META}"] or Authorization: Bearer <token>)`);
    }
    const dpop = (options.dpop ?? dpopOf)(extra, action);
    return verifier.authorize(token, { action, args: isRecord(args) ? args : {}, ...(dpop ? { dpop } : {}) });
  };

  const guard = (tool: Tool, registeredName: string) => {
    let current = wrap(tool.handler);
    Object.defineProperty(tool, "handler", {
      configurable: true,
      enumerable: true,
      get: () => current,
      // RegisteredTool.update({ callback }) assigns here: the new callback is guarded too.
      set: (handler: unknown) => {
        current = wrap(handler);
      },
    });

    function wrap(handler: unknown): unknown {
      if (typeof handler === "function") {
        const callback = handler as Handler;
        // The SDK calls (args, extra) when the tool has an input schema, (extra) when not.
        return async function batonGuardedTool(...params: unknown[]) {
          const extra = params[params.length - 1] as ToolCallExtra;
          const args = params.length > 1 ? params[0] : undefined;
          let authorized: Authorized;
          try {
            authorized = await authorizeCall(tool, registeredName, args, extra);
          } catch (error) {
            if (error instanceof VerifierError) return refusalResult(error);
            throw error;
          }
          return callback(...params.slice(0, -1), withAuthorization(extra, authorized));
        };
      }
      if (isRecord(handler) && typeof handler.createTask === "function") {
        // A task tool: the capability is spent when the task is created. A refusal
        // cannot be a CreateTaskResult, so it is thrown; the SDK answers it as a tool
        // error whose text is refusalText's "<CODE>: <message>…" (without the _meta).
        const task = handler as TaskHandler;
        const createTask = task.createTask;
        // Inherits getTask/getTaskResult (own or prototype methods) from the original.
        return Object.assign(Object.create(task) as TaskHandler, {
          async createTask(...params: unknown[]) {
            const extra = params[params.length - 1] as ToolCallExtra;
            const args = params.length > 1 ? params[0] : undefined;
            let authorized: Authorized;
            try {
              authorized = await authorizeCall(tool, registeredName, args, extra);
            } catch (error) {
              if (error instanceof VerifierError) throw new Error(refusalText(error), { cause: error });
              throw error;
            }
            return createTask.call(task, ...params.slice(0, -1), withAuthorization(extra, authorized));
          },
        });
      }
      // Nothing the SDK could call; leave it to fail there.
      return handler;
    }
  };

  for (const [name, tool] of Object.entries(registry)) guard(tool, name);
  internals._createRegisteredTool = function guardedCreateRegisteredTool(this: unknown, name: string, ...rest: unknown[]) {
    const tool = create.call(this, name, ...rest);
    guard(tool, name);
    return tool;
  };
  return server;
}

/** The authorization of the call whose handler received `extra` (undefined if the call was not guarded). */
export function batonAuthorization(extra: ToolCallExtra): Authorized | undefined {
  return authorizations.get(extra);
}

function withAuthorization(extra: ToolCallExtra, authorized: Authorized): ToolCallExtra {
  const guarded: ToolCallExtra = { ...extra, _meta: { ...extra._meta, [RECEIPT_META]: authorized.receipt } };
  authorizations.set(guarded, authorized);
  return guarded;
}

function capabilityOf(extra: ToolCallExtra): string | undefined {
  const meta = extra._meta?.[CAPABILITY_META];
  if (typeof meta === "string" && meta) return meta;
  const match = /^(Bearer|DPoP) ([A-Za-z0-9_.-]+)$/i.exec(header(extra, "authorization") ?? "");
  const token = match?.[2];
  // A token the HTTP layer authenticated (requireBearerAuth) is its OAuth token, not a capability.
  if (!token || extra.authInfo?.token === token) return undefined;
  return token;
}

function dpopOf(extra: ToolCallExtra): ActionRequest["dpop"] | undefined {
  const proof = header(extra, "dpop");
  const url = extra.requestInfo?.url;
  // Streamable HTTP carries every tools/call in a POST to the MCP endpoint.
  return proof && url ? { proof, htm: "POST", htu: url.href } : undefined;
}

function header(extra: ToolCallExtra, name: string): string | undefined {
  const headers = extra.requestInfo?.headers ?? {};
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
  const value = key === undefined ? undefined : headers[key];
  // A repeated header is ambiguous: none rather than a guess.
  return typeof value === "string" ? value : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
