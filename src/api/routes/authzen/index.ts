import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { BatonError } from "../../../errors.js";
import { presentAtGate } from "../../../ledger/gate.js";
import type { Caller } from "../../../ledger/protocol.js";
import { AUTHZEN_REQUEST_ID_MAX_CHARS } from "../../../limits.js";
import { hasDuplicateMembers } from "../../../tokens/strict-json.js";
import { requireCaller } from "../../auth.js";
import type { AppEnv } from "../../context.js";
import { authedRoute, documentedRoute } from "../../openapi.js";
import { json } from "../../respond.js";
import { decisionOf, evaluationsOf, runEvaluations } from "./evaluate.js";
import { ConfigurationSchema, type Decision, DecisionSchema, type Evaluation, EvaluationRequest, EvaluationsRequest, EvaluationsResponse } from "./schemas.js";

// OpenID AuthZEN Authorization API 1.0 over the gate: Baton as a policy decision point for
// tool servers (the PEPs). Authenticated as tools are at POST /v1/redeem, and an evaluation
// IS a redeem: a permit spends the use and is receipted (README, "AuthZEN").

export const EVALUATION_PATH = "/access/v1/evaluation";
export const EVALUATIONS_PATH = "/access/v1/evaluations";
export const CONFIGURATION_PATH = "/.well-known/authzen-configuration";
/** Every path under the AuthZEN endpoints, the methods they do not take included. */
export const AUTHZEN_PATHS = "/access/v1/*";

/**
 * JSON whose objects repeat a member name is read differently by different parsers (the PEP
 * may have checked the first `capability`, JSON.parse keeps the last): refused, as AuthZEN's
 * security considerations ask (I-JSON, RFC 7493 §2.3). Only a JSON body: others are the
 * media-type gate's to refuse (415), and one that does not parse the validator's (400).
 */
const refuseDuplicateMembers = createMiddleware<AppEnv>(async function refuseDuplicateMembers(c, next) {
  if (/^application\/json\s*(;|$)/i.test(c.req.header("content-type") ?? "")) {
    const text = await c.req.text();
    let parses = true;
    try {
      JSON.parse(text);
    } catch {
      parses = false;
    }
    if (parses && hasDuplicateMembers(text)) throw new BatonError("INVALID_REQUEST", "a JSON object of the body repeats a member name");
  }
  await next();
});

/**
 * AuthZEN 1.0 §10.1.3: a request's X-Request-ID MUST come back on its answer, errors included
 * (app.ts answers `pepRequestId` in that header). Mounted before the body limit, which refuses
 * before any route runs. An id Baton would not repeat (control characters, too long) is dropped.
 */
export const echoPepRequestId = createMiddleware<AppEnv>(async function echoPepRequestId(c, next) {
  const id = c.req.header("x-request-id");
  if (id !== undefined && id.length <= AUTHZEN_REQUEST_ID_MAX_CHARS && /^[\x21-\x7e]+$/.test(id)) c.set("pepRequestId", id);
  await next();
});

const ROUTE_NOTES =
  "As POST /v1/redeem: the caller is the tool (`tool:<id>`), and a permit spends a use of the capability and is receipted. A PEP's X-Request-ID is answered back.";

const evaluationRoute = authedRoute({
  method: "post",
  path: EVALUATION_PATH,
  summary: "AuthZEN Access Evaluation: the gate, asked in OpenID AuthZEN 1.0 terms (subject = agent, action, resource = tool with the arguments, context = capability)",
  description: ROUTE_NOTES,
  middleware: [requireCaller("tool:*"), refuseDuplicateMembers] as const,
  request: { body: { required: true, content: { "application/json": { schema: EvaluationRequest } } } },
  responses: { 200: { description: "the decision: a deny is a 200 too, with Baton's code in context", content: { "application/json": { schema: DecisionSchema } } } },
});

const evaluationsRoute = authedRoute({
  method: "post",
  path: EVALUATIONS_PATH,
  summary: "AuthZEN Access Evaluations: several evaluations in order, with top-level defaults and options.evaluations_semantic",
  description: `${ROUTE_NOTES} Not a transaction: each evaluation is its own gate decision; a short circuit leaves the rest unexecuted.`,
  middleware: [requireCaller("tool:*"), refuseDuplicateMembers] as const,
  request: { body: { required: true, content: { "application/json": { schema: EvaluationsRequest } } } },
  responses: { 200: { description: "one decision per evaluated entry, in order", content: { "application/json": { schema: EvaluationsResponse } } } },
});

const configurationRoute = documentedRoute({
  method: "get",
  path: CONFIGURATION_PATH,
  summary: "AuthZEN policy decision point metadata (§9)",
  responses: { 200: { description: "metadata", content: { "application/json": { schema: ConfigurationSchema } } } },
});

export function registerAuthzen(app: OpenAPIHono<AppEnv>): void {
  app.openapi(evaluationRoute, async (c) => {
    const evaluation = c.req.valid("json");
    const gate = gateOf(c);
    assertOwnTool(gate.caller, [evaluation]);
    return json(await gate.evaluate(evaluation));
  });

  app.openapi(evaluationsRoute, async (c) => {
    const request = c.req.valid("json");
    const { batch, evaluations } = evaluationsOf(request);
    const gate = gateOf(c);
    assertOwnTool(gate.caller, evaluations);
    const decisions = await runEvaluations(evaluations, request.options?.evaluations_semantic ?? "execute_all", gate.evaluate);
    // §7.1: without entries the request is the single evaluation, and so is its answer.
    return json(batch ? { evaluations: decisions } : decisions[0]);
  });

  app.openapi(configurationRoute, (c) => {
    // §9.2.3: the identifier is the URL the PEP put the well-known path into, so the origin asked.
    const base = new URL(c.req.url).origin;
    return json(
      { policy_decision_point: base, access_evaluation_endpoint: `${base}${EVALUATION_PATH}`, access_evaluations_endpoint: `${base}${EVALUATIONS_PATH}` },
      200,
      { "cache-control": "public, max-age=300" },
    );
  });
}

/** The gate for this request's caller: one evaluation, presented exactly as a redeem is. */
function gateOf(c: Context<AppEnv>) {
  const caller = c.get("caller");
  const deployment = { keyring: c.get("keyring"), issuer: c.get("config").issuer };
  const tool = caller.role.slice("tool:".length);
  const evaluate = async ({ subject, action, resource, context }: Evaluation): Promise<Decision> =>
    decisionOf(
      await presentAtGate(c.env.SEQUENCES, deployment, {
        caller,
        tool,
        token: context.capability,
        action: action.name,
        args: resource.properties ?? {},
        dpop: context.dpop,
        presenter: subject.id,
      }),
    );
  return { caller, evaluate };
}

/**
 * A tool asks only about itself, as at /v1/redeem where the audience is the caller: a resource
 * naming another tool is refused before anything is evaluated (403, nothing spent).
 */
function assertOwnTool(caller: Caller, evaluations: readonly Evaluation[]): void {
  const tool = caller.role.slice("tool:".length);
  const other = evaluations.findIndex((evaluation) => evaluation.resource.id !== tool);
  if (other >= 0) {
    throw new BatonError("FORBIDDEN", `${caller.role} may ask only about resource {type: "tool", id: "${tool}"}`, {
      details: { evaluation: other, resource: evaluations[other]?.resource.id },
    });
  }
}
