import { type RouteConfig, createRoute } from "@hono/zod-openapi";
import { ErrorSchema } from "./schemas.js";

const errorResponse = (description: string) => ({ description, content: { "application/json": { schema: ErrorSchema } } });

/** The error responses every authenticated route can give, documented once. */
export const STANDARD_ERRORS = {
  400: errorResponse("INVALID_REQUEST"),
  401: errorResponse("UNAUTHENTICATED, TOKEN_INVALID, TOKEN_EXPIRED"),
  403: errorResponse("FORBIDDEN or a policy denial"),
  404: errorResponse("UNKNOWN_WORKFLOW / UNKNOWN_SEQUENCE"),
  409: errorResponse("SEQUENCE_VIOLATION, REPLAY_NONCE, SEALED_SEQUENCE"),
  413: errorResponse("PAYLOAD_TOO_LARGE"),
} as const;

/**
 * Response schemas document the API; the bodies themselves are built by the
 * ledger (and the one error envelope), so handlers return plain Responses. The
 * route keeps its schemas at run time; only the handler's return type is relaxed.
 */
type DocumentedRoute<R> = Omit<R, "responses"> & { responses: Record<number, { description: string }> };

export function documentedRoute<const R extends RouteConfig>(config: R): DocumentedRoute<R> {
  return createRoute(config) as DocumentedRoute<R>;
}

/** A documented route with bearer auth and the standard errors filled in. */
export function authedRoute<const R extends RouteConfig>(config: R): DocumentedRoute<R> {
  return createRoute({
    security: [{ bearer: [] }],
    ...config,
    responses: { ...STANDARD_ERRORS, ...config.responses },
  }) as DocumentedRoute<R>;
}
