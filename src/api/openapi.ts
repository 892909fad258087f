import { type RouteConfig, createRoute } from "@hono/zod-openapi";
import type { NamedRole } from "../config/schema.js";
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
  // A route that takes a body refuses any other media type than the one it declares.
  const bodyErrors = config.request?.body ? { 415: errorResponse("UNSUPPORTED_MEDIA_TYPE") } : {};
  return createRoute({
    security: [{ bearer: [] }],
    ...config,
    responses: { ...STANDARD_ERRORS, ...bodyErrors, ...config.responses },
  }) as DocumentedRoute<R>;
}

/**
 * What each role may do, for the bearer scheme's description. Keyed by the config's
 * roles, so a new role fails the typecheck until it is documented here.
 */
const ROLE_DUTIES: Record<NamedRole | "tool:<id>", string> = {
  orchestrator: "starts sequences of its workflows, submits evidence and approvals for them, revokes them, reads their receipts and signals",
  agent: "the actor of a sequence: fetches its capability, delegates to sub-agents, submits evidence and approvals",
  attester: "submits signed attestations as evidence",
  approver: "reads a sequence it is asked to approve and submits signed approvals",
  "tool:<id>": "a tool server: redeems capabilities addressed to it and reports outcomes",
  auditor: "reads sequences and their receipt chains and evidence bundles, signals, approvers' passkeys and shadow reports; never mutates",
  operator: "reads, acknowledges and clears signals of the analysis plane; reads shadow reports (without receipts); issues approvers' passkey enrolment links and revokes their passkeys",
};

export const BEARER_DESCRIPTION = `API key of a configured client (\`Authorization: Bearer <key>\`). Its role decides what it may call: ${Object.entries(
  ROLE_DUTIES,
)
  .map(([role, duty]) => `\`${role}\` ${duty}`)
  .join("; ")}.`;
