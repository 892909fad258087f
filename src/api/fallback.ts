import { HTTPException } from "hono/http-exception";
import { BatonError, type ReasonCode } from "../errors.js";

/**
 * What a request that matches no route gets: 405 with `Allow` when the path exists
 * under other methods (RFC 9110 §15.5.6), 404 NOT_FOUND when it does not.
 * Built from the app's own route table, so a new route needs no entry here.
 */
interface Unmatched {
  error: BatonError;
  headers: Record<string, string>;
}

/** Only the route table of the app is read. */
export function unmatchedRoute(app: { routes: readonly { method: string; path: string }[] }): (method: string, path: string) => Unmatched {
  let table: { pattern: RegExp; method: string }[] | null = null;
  return (method, path): Unmatched => {
    table ??= app.routes
      // Middleware is registered for ALL methods; only real routes say what a path accepts.
      .filter((route) => route.method !== "ALL")
      .map((route) => ({ pattern: patternOf(route.path), method: route.method.toUpperCase() }));
    const methods = new Set(table.filter((route) => route.pattern.test(path)).map((route) => route.method));
    // Hono answers HEAD for every GET route.
    if (methods.has("GET")) methods.add("HEAD");
    // (A method the path accepts cannot arrive here; if it does, the path is what failed.)
    if (methods.size === 0 || methods.has(method.toUpperCase())) return { error: new BatonError("NOT_FOUND", "no such endpoint"), headers: {} };
    const allowed = [...methods].sort();
    return {
      error: new BatonError("METHOD_NOT_ALLOWED", `${method} is not allowed here`, { details: { allow: allowed } }),
      headers: { allow: allowed.join(", ") },
    };
  };
}

function patternOf(path: string): RegExp {
  const source = path
    .split("/")
    .map((segment) => (segment.startsWith(":") ? "[^/]+" : segment === "*" ? ".*" : segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
    .join("/");
  return new RegExp(`^${source}$`);
}

/**
 * Hono and its validators throw HTTPException for what they refuse before our code
 * runs; each such status has its code in the table. Anything else stays INTERNAL.
 */
const HTTP_EXCEPTION_CODES: Partial<Record<number, { code: ReasonCode; message: string }>> = {
  // The JSON validator's only 400: a body that does not parse.
  400: { code: "INVALID_REQUEST", message: "body is not valid JSON" },
  404: { code: "NOT_FOUND", message: "no such endpoint" },
  413: { code: "PAYLOAD_TOO_LARGE", message: "body is too large" },
  // The media-type gate of @hono/zod-openapi: a body sent as anything but the declared type.
  415: { code: "UNSUPPORTED_MEDIA_TYPE", message: "the body must be JSON, sent with Content-Type: application/json" },
};

export function fromHttpException(error: unknown): BatonError | null {
  if (!(error instanceof HTTPException)) return null;
  const known = HTTP_EXCEPTION_CODES[error.status];
  return known ? new BatonError(known.code, known.message) : null;
}
