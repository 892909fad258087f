import { type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { CLOCK_SKEW_MAX_SECONDS, DPOP_PROOF_MAX_AGE_SECONDS } from "../../../limits.js";
import type { LedgerAnswer } from "../../../ledger/answers.js";
import { sequenceStub } from "../../../ledger/stub.js";
import { tokenRequestDpopProblem } from "../../../policy/dpop-binding.js";
import { type CapabilityClaims, narrowCapability, signCapability, verifyCapabilitySignature } from "../../../tokens/capability.js";
import { sha256 } from "../../../tokens/digest.js";
import { checkTokenRequestDpopProof } from "../../../tokens/dpop.js";
import type { AppEnv } from "../../context.js";
import { authenticateClient } from "./client-auth.js";
import { OAuthError } from "./errors.js";
import { type TokenExchangeRequest, TokenExchangeForm, formParameters, tokenExchangeRequest } from "./token-request.js";
import { BATON_CODE_MEMBER, TOKEN_ENDPOINT_PATH, TOKEN_TYPES } from "./vocabulary.js";

/** RFC 6749 §5.1 with RFC 8693 §2.2.1's `issued_token_type`. */
const TokenResponse = z
  .object({
    access_token: z.string().openapi({ description: "the current stage's capability, addressed to the one tool asked for" }),
    issued_token_type: z.enum(TOKEN_TYPES),
    token_type: z.enum(["Bearer", "DPoP"]).openapi({ description: "DPoP when the workflow binds capabilities to the agent's key (RFC 9449)" }),
    expires_in: z.int().nonnegative(),
    scope: z.string().optional().openapi({ description: "the actions the capability grants that tool in this stage" }),
  })
  .openapi("TokenResponse");

const OAuthErrorBody = z
  .object({
    error: z.string().openapi({ example: "invalid_request" }),
    error_description: z.string(),
    [BATON_CODE_MEMBER]: z.string().openapi({ example: "SEQUENCE_VIOLATION", description: "Baton's reason code (README, \"Reason codes\")" }),
  })
  .openapi("OAuthError");

const oauthError = (description: string) => ({ description, content: { "application/json": { schema: OAuthErrorBody } } });

/** Form, then credentials, then the grant, then the subject token: the order the RFCs' errors are checked in. */
export function registerTokenEndpoint(app: OpenAPIHono<AppEnv>): void {
  app.openAPIRegistry.registerPath({
    method: "post",
    path: TOKEN_ENDPOINT_PATH,
    summary:
      "Token exchange (RFC 8693, agent): a capability of the agent's sequence for the current stage's capability addressed to one tool, DPoP-bound where the workflow binds",
    description:
      "Example: `curl -s $BATON/oauth/token -u agent-7:dev-agent-key -d grant_type=urn:ietf:params:oauth:grant-type:token-exchange " +
      "-d subject_token_type=urn:baton:params:oauth:token-type:capability --data-urlencode subject_token=\"$CAPABILITY\" -d audience=deployer`",
    security: [{ client_secret_basic: [] }],
    request: {
      headers: z.object({ dpop: z.string().optional().openapi({ description: "RFC 9449 proof of the agent's key, for POST to this endpoint, when the workflow binds capabilities" }) }),
      body: { required: true, content: { "application/x-www-form-urlencoded": { schema: TokenExchangeForm } } },
    },
    responses: {
      200: { description: "the capability", content: { "application/json": { schema: TokenResponse } } },
      400: oauthError("invalid_request, unsupported_grant_type, invalid_target, invalid_scope, invalid_dpop_proof, unauthorized_client"),
      401: oauthError("invalid_client, with WWW-Authenticate: Basic"),
      404: oauthError("invalid_request (NOT_FOUND)"),
      405: oauthError("invalid_request (METHOD_NOT_ALLOWED), with Allow"),
      413: oauthError("invalid_request (PAYLOAD_TOO_LARGE)"),
    },
  });

  app.post(TOKEN_ENDPOINT_PATH, async (c) => {
    // RFC 6749 §3.2: the token endpoint takes form-encoded parameters only.
    if (!/^application\/x-www-form-urlencoded\s*(;|$)/i.test(c.req.header("content-type") ?? "")) {
      throw new OAuthError("invalid_request", "UNSUPPORTED_MEDIA_TYPE", "the body must be application/x-www-form-urlencoded (RFC 6749 §3.2)");
    }
    // Decoded by hand: workerd warns when text() reads a body whose type is not text.
    const form = new URLSearchParams(new TextDecoder().decode(await c.req.arrayBuffer()));
    const config = c.get("config");
    const caller = await authenticateClient(c.req.header("authorization"), form, config.clients);
    if (caller.role !== "agent") throw new OAuthError("unauthorized_client", "FORBIDDEN", `role ${caller.role} does not exchange capabilities; agents do`);
    const request = tokenExchangeRequest(formParameters(form), config.clients);

    const subject = await verifyCapabilitySignature(request.subjectToken, c.get("keyring"), config.issuer);
    // RFC 8693 §2.2.2: a subject token that is invalid is invalid_request.
    if (!subject.ok) throw new OAuthError("invalid_request", "TOKEN_INVALID", `subject_token: ${subject.message}`);
    const now = Date.now();
    targetProblem(subject.claims, request);
    if (subject.claims.cnf) await requireProof(c, subject.claims.cnf.jkt, request.subjectToken, now);

    // The capability endpoint's own path, with the subject token pinning the stage: the live
    // capability as is (a read), or, when it expired, the stage's re-issue (a receipted decision).
    const ledger = sequenceStub(c.env.SEQUENCES, subject.claims.seq);
    const current = await ledger.capability({ caller, presented: { token: subject.claims } });
    const issued = await issue(c, current, request.tool);
    return new Response(
      JSON.stringify({
        access_token: issued.token,
        issued_token_type: request.issuedTokenType,
        token_type: issued.claims.cnf ? "DPoP" : "Bearer",
        expires_in: Math.max(0, issued.claims.exp - Math.floor(now / 1000)),
        ...scopeOf(issued.claims),
      }),
      { status: 200, headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", pragma: "no-cache" } },
    );
  });
}

/** The tool must be one the subject token is for, and any scope asked for among its actions there. */
function targetProblem(claims: CapabilityClaims, request: TokenExchangeRequest): void {
  if (!claims.aud.includes(request.tool)) {
    throw new OAuthError("invalid_target", "AUDIENCE_MISMATCH", `the current stage grants nothing to ${request.tool} (the subject token is for ${claims.aud.join(", ")})`);
  }
  const granted = new Set(actionsFor(claims, request.tool));
  const beyond = (request.scope ?? []).filter((action) => !granted.has(action));
  if (beyond.length > 0) throw new OAuthError("invalid_scope", "SCOPE_EXCEEDED", `not granted to ${request.tool} in this stage: ${beyond.join(" ")}`);
}

/**
 * RFC 9449 §5: a bound subject token is exchanged only with a fresh proof of its key for this
 * request. Not one-time here: the answer to a replayed proof is the same capability, bound to
 * the same key, which is useless without that key (README, "Token exchange").
 */
async function requireProof(c: Context<AppEnv>, jkt: string, subjectToken: string, now: number): Promise<void> {
  const header = c.req.header("dpop");
  if (header === undefined) throw new OAuthError("invalid_dpop_proof", "TOKEN_INVALID", "the subject token is bound to a key: a DPoP proof of it is required (RFC 9449)");
  const proof = await checkTokenRequestDpopProof(header);
  if (!proof.ok) throw new OAuthError("invalid_dpop_proof", "TOKEN_INVALID", `DPoP proof rejected: ${proof.message}`);
  const url = new URL(c.req.url);
  const expected = { jkt, htu: `${url.origin}${url.pathname}`, subjectTokenHash: await sha256(subjectToken) };
  const problem = tokenRequestDpopProblem(proof, expected, now / 1000, CLOCK_SKEW_MAX_SECONDS, DPOP_PROOF_MAX_AGE_SECONDS);
  if (problem) throw new OAuthError("invalid_dpop_proof", "TOKEN_INVALID", `DPoP proof rejected: ${problem}`);
}

/** The ledger's answer as the capability to hand out: the stage's, narrowed to the tool and signed. */
async function issue(c: Context<AppEnv>, answer: LedgerAnswer, tool: string): Promise<{ token: string; claims: CapabilityClaims }> {
  if (answer.kind === "refused") {
    const { code, message } = answer.error;
    // RFC 8693 §2.2.2: a subject token unacceptable by policy (sealed, another stage, not the
    // caller's sequence, the stage out of uses) is invalid_request; only the target has its own.
    throw new OAuthError(code === "AUDIENCE_MISMATCH" ? "invalid_target" : "invalid_request", code, message);
  }
  const token = answer.kind === "decided" ? answer.body.capability : undefined;
  if (token === undefined) throw new Error(`the ledger answered ${answer.kind} without a capability`);
  // Baton's own token, just minted or stored: verified again rather than decoded on trust.
  const whole = await verifyCapabilitySignature(token, c.get("keyring"), c.get("config").issuer);
  if (!whole.ok) throw new Error(`the ledger's capability does not verify: ${whole.message}`);
  const narrowed = narrowCapability(whole.claims, tool);
  if (!narrowed) throw new OAuthError("invalid_target", "AUDIENCE_MISMATCH", `the current stage grants nothing to ${tool}`);
  return { token: await signCapability(c.get("keyring"), narrowed), claims: narrowed };
}

function actionsFor(claims: CapabilityClaims, tool: string): string[] {
  return [...new Set(claims.authorization_details.filter((detail) => detail.tool === tool).flatMap((detail) => detail.actions))];
}

/** RFC 6749 §3.3: `scope` lists the actions granted, when each is a valid scope token (printable, no space, `"` or `\`). */
function scopeOf(claims: CapabilityClaims): { scope?: string } {
  const actions = actionsFor(claims, claims.aud[0] as string);
  return actions.length > 0 && actions.every((action) => /^[\x21\x23-\x5b\x5d-\x7e]+$/.test(action)) ? { scope: actions.join(" ") } : {};
}
