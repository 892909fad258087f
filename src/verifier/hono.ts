import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { VerifierError } from "./errors.js";
import type { Authorized, Verifier } from "./verifier.js";

export interface CapabilityVariables {
  capability: Authorized["capability"];
  receipt: string;
}

export interface RequireCapabilityOptions {
  /** The action this route performs (e.g. `deploy.canary`). */
  action: string;
  /** The arguments to check against the grant; from the request (JSON body by default). */
  args?: (c: Context) => Record<string, unknown> | Promise<Record<string, unknown>>;
}

/**
 * Hono middleware: authorizes the request with a Baton capability — offline
 * verification, then the gate — before the handler runs. The capability comes as
 * `Authorization: Bearer <token>` or, when bound to the agent's key, `Authorization:
 * DPoP <token>` with a `DPoP` proof header (RFC 9449). On success the verified
 * capability and the receipt are on the context (`c.get("capability")`,
 * `c.get("receipt")`); on refusal the handler never runs and the answer carries
 * Baton's code. A refusal is thrown as an HTTPException whose response is Baton's error
 * envelope with the code's status (as Hono's own auth middleware does): without an
 * `onError` that is the answer; with one, the app can shape it (`err.getResponse()`,
 * and the VerifierError as `err.cause`).
 */
export function requireCapability(verifier: Verifier, options: RequireCapabilityOptions) {
  // Every request would need the gate: fail when the route is set up, not on each request.
  if (!verifier.online) {
    throw new TypeError("requireCapability: the verifier has no apiKey (the tool's Baton API key, role tool:<id>), so it cannot call the gate");
  }
  return createMiddleware<{ Variables: CapabilityVariables }>(async function requireCapabilityMiddleware(c, next) {
    const match = /^(Bearer|DPoP) ([A-Za-z0-9_.-]+)$/i.exec(c.req.header("authorization") ?? "");
    if (!match?.[2]) {
      throw refusal(c, new VerifierError("UNAUTHENTICATED", "a Baton capability is required (Authorization: Bearer <token>)"));
    }
    const proof = c.req.header("dpop");
    try {
      const args = options.args ? await options.args(c) : await jsonBody(c);
      const authorized = await verifier.authorize(match[2], {
        action: options.action,
        args,
        ...(proof ? { dpop: { proof, htm: c.req.method, htu: c.req.url } } : {}),
      });
      c.set("capability", authorized.capability);
      c.set("receipt", authorized.receipt);
    } catch (error) {
      if (!(error instanceof VerifierError)) throw error;
      throw refusal(c, error);
    }
    await next();
  });
}

function refusal(c: Context, error: VerifierError): HTTPException {
  const status = error.status as ContentfulStatusCode;
  return new HTTPException(status, { res: c.json(error.toJSON(), status), message: error.message, cause: error });
}

async function jsonBody(c: Context): Promise<Record<string, unknown>> {
  if (!(c.req.header("content-type") ?? "").includes("application/json")) return {};
  const body = await c.req.json().catch(() => null);
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new VerifierError("INVALID_REQUEST", "the request body must be a JSON object (the action's arguments)");
  }
  return body as Record<string, unknown>;
}
