import { z } from "@hono/zod-openapi";
import { type Client, normalResource } from "../../../config/schema.js";
import { TOKEN_MAX_BYTES } from "../../../limits.js";
import { OAuthError } from "./errors.js";
import { TOKEN_EXCHANGE_GRANT, TOKEN_TYPES, type TokenType } from "./vocabulary.js";

/** A target named more than once is one Baton cannot honour: a capability is for one tool. */
const TARGETS = ["resource", "audience"] as const;

/**
 * The parameters of a token exchange request (RFC 8693 §2.1), as the form carries them after
 * `formParameters`. Unknown parameters are ignored (RFC 6749 §3.2); the client's credentials are
 * client-auth.ts's. Declared once: it validates here and documents the operation.
 */
export const TokenExchangeForm = z
  .object({
    grant_type: z.literal(TOKEN_EXCHANGE_GRANT).openapi({ description: "the only grant this endpoint serves" }),
    subject_token: z
      .string()
      .min(1)
      .max(TOKEN_MAX_BYTES)
      .openapi({ description: "a capability of the caller's sequence, for its current stage (it may have expired: then the stage's is re-issued)" }),
    subject_token_type: z.enum(TOKEN_TYPES).openapi({ description: "Baton's capability token type (its access-token type is taken as a synonym)" }),
    requested_token_type: z.enum(TOKEN_TYPES).optional().openapi({ description: "the capability type (default) or the access-token type; issued_token_type echoes it" }),
    audience: z.string().min(1).max(256).optional().openapi({ description: "the tool id the capability is to be addressed to (RFC 8693 §2.1); this or `resource`" }),
    resource: z
      .string()
      .min(1)
      .max(2048)
      .optional()
      .openapi({ description: "a resource indicator (RFC 8707) configured for one tool (`clients[].resources`); this or `audience`" }),
    scope: z
      .string()
      .min(1)
      .max(2048)
      .optional()
      .openapi({ description: "space-separated actions; each must be granted to the tool in the current stage (the capability is not narrowed by them)" }),
    actor_token: z.string().optional().openapi({ description: "not taken: the actor is the authenticated agent" }),
    actor_token_type: z.string().optional().openapi({ description: "not taken" }),
  })
  .openapi("TokenExchangeRequest");

export interface TokenExchangeRequest {
  subjectToken: string;
  /** The type the answer names in `issued_token_type`. */
  issuedTokenType: TokenType;
  /** The tool the capability is for, resolved from `audience` or `resource`. */
  tool: string;
  /** Actions asked for with `scope`, if any. */
  scope: string[] | null;
}

/**
 * RFC 6749 §3.2: parameters without a value count as omitted, none may repeat. The form as a
 * plain object; a repeated target is refused by `tokenExchangeRequest` (invalid_target).
 */
export function formParameters(form: URLSearchParams): Record<string, string> {
  const parameters: Record<string, string> = {};
  for (const name of new Set(form.keys())) {
    const values = form.getAll(name).filter((value) => value !== "");
    if (values.length === 0) continue;
    if (values.length > 1) {
      if ((TARGETS as readonly string[]).includes(name)) throw new OAuthError("invalid_target", "AUDIENCE_MISMATCH", "a capability is for one tool: name one resource or audience");
      throw new OAuthError("invalid_request", "INVALID_REQUEST", `parameter ${name} is repeated (RFC 6749 §3.2)`);
    }
    parameters[name] = values[0] as string;
  }
  return parameters;
}

/** The token exchange asked for, its target resolved to a tool, or the OAuth error it deserves. */
export function tokenExchangeRequest(parameters: Record<string, string>, clients: readonly Client[]): TokenExchangeRequest {
  const grant = parameters.grant_type;
  if (grant === undefined) throw new OAuthError("invalid_request", "INVALID_REQUEST", "grant_type is required");
  if (grant !== TOKEN_EXCHANGE_GRANT) throw new OAuthError("unsupported_grant_type", "INVALID_REQUEST", `grant_type must be ${TOKEN_EXCHANGE_GRANT}`);
  const parsed = TokenExchangeForm.safeParse(parameters);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.map(String).join(".") || "request";
    throw new OAuthError("invalid_request", "INVALID_REQUEST", `${where}: ${issue?.message ?? "malformed"}`);
  }
  const form = parsed.data;
  if (form.actor_token !== undefined || form.actor_token_type !== undefined) {
    throw new OAuthError("invalid_request", "INVALID_REQUEST", "actor_token is not taken: the actor is the authenticated agent");
  }
  return {
    subjectToken: form.subject_token,
    issuedTokenType: form.requested_token_type ?? form.subject_token_type,
    tool: targetTool(form, clients),
    scope: form.scope === undefined ? null : form.scope.split(" ").filter((token) => token !== ""),
  };
}

/** `audience` is a tool id as is; `resource` is looked up among the tool servers' configured resources. */
function targetTool(form: { audience?: string | undefined; resource?: string | undefined }, clients: readonly Client[]): string {
  if (form.audience !== undefined && form.resource !== undefined) {
    throw new OAuthError("invalid_target", "AUDIENCE_MISMATCH", "a capability is for one tool: name one resource or audience");
  }
  if (form.audience !== undefined) return form.audience;
  // RFC 8707 §2: a missing target is invalid_target too.
  if (form.resource === undefined) throw new OAuthError("invalid_target", "AUDIENCE_MISMATCH", "name the tool: audience (its id) or resource (RFC 8707)");
  const wanted = normalResource(form.resource);
  if (wanted === null || form.resource.includes("#")) {
    throw new OAuthError("invalid_target", "AUDIENCE_MISMATCH", "resource must be an absolute URI without a fragment (RFC 8707 §2)");
  }
  const owner = clients.find((client) => client.resources?.some((uri) => normalResource(uri) === wanted));
  if (!owner) throw new OAuthError("invalid_target", "AUDIENCE_MISMATCH", "no tool of this Baton answers as this resource");
  return owner.role.slice("tool:".length);
}
