import { z } from "@hono/zod-openapi";
import { boundedJsonObject } from "../../../json-shape.js";
import { AUTHZEN_MAX_EVALUATIONS, GRANT_AUDIENCE_MAX_CHARS } from "../../../limits.js";
import { PartyName, RedeemBody } from "../../schemas.js";

// OpenID AuthZEN Authorization API 1.0 (final, January 2026): its member names and shapes
// (§5 information model, §6 evaluation, §7 evaluations), with Baton's meaning of each. The spec
// says receivers MUST ignore unknown members (§10.1.1), so these objects drop them instead
// of refusing them like Baton's own bodies do; what Baton does not read is listed as ignored.

const Ignored = z.record(z.string(), z.unknown());

export const AuthzenSubject = z
  .object({
    type: z.literal("agent").openapi({ description: "Baton's subjects are the agents that present capabilities" }),
    id: PartyName.openapi({ description: "the agent presenting the capability; another agent than its actor (`act.sub`) is denied", example: "agent-7" }),
    properties: Ignored.optional().openapi({ description: "accepted and ignored" }),
  })
  .openapi("AuthZENSubject");

export const AuthzenAction = z
  .object({
    name: RedeemBody.shape.action,
    properties: Ignored.optional().openapi({ description: "accepted and ignored: the action's arguments are the resource's properties" }),
  })
  .openapi("AuthZENAction");

export const AuthzenResource = z
  .object({
    type: z.literal("tool"),
    id: z
      .string()
      .min(1)
      .max(GRANT_AUDIENCE_MAX_CHARS)
      .openapi({ description: "the tool (a grant's audience): the calling tool's own id", example: "deployer" }),
    properties: boundedJsonObject()
      .optional()
      .openapi({ description: "the action's arguments (`args` of POST /v1/redeem)", example: { service: "checkout", version: "2.4.1", percent: 5 } }),
  })
  .openapi("AuthZENResource");

export const AuthzenContext = z
  .object({
    capability: RedeemBody.shape.token,
    dpop: RedeemBody.shape.dpop,
  })
  .openapi("AuthZENContext", {
    description: "the capability the agent presented (and its DPoP proof); other members (`time`, ...) are accepted and ignored: the gate reads its own clock",
  });

export const EvaluationRequest = z
  .object({ subject: AuthzenSubject, action: AuthzenAction, resource: AuthzenResource, context: AuthzenContext })
  .openapi("AuthZENEvaluationRequest");
export type Evaluation = z.infer<typeof EvaluationRequest>;

/** One entry of `evaluations`: what it leaves out, the top level gives (§7.1.1). */
const EvaluationItem = EvaluationRequest.partial().openapi("AuthZENEvaluationItem");
export type EvaluationDefaults = z.infer<typeof EvaluationItem>;

export const EVALUATIONS_SEMANTICS = ["execute_all", "deny_on_first_deny", "permit_on_first_permit"] as const;
export type EvaluationsSemantic = (typeof EVALUATIONS_SEMANTICS)[number];

export const EvaluationsRequest = EvaluationItem.extend({
  evaluations: z
    .array(EvaluationItem)
    .max(AUTHZEN_MAX_EVALUATIONS)
    .optional()
    .openapi({ description: "absent or empty: one evaluation of the top-level members, answered as /access/v1/evaluation answers" }),
  options: z
    .object({ evaluations_semantic: z.enum(EVALUATIONS_SEMANTICS).optional().openapi({ description: "default execute_all" }) })
    .optional()
    .openapi({ description: "other options are accepted and ignored" }),
}).openapi("AuthZENEvaluationsRequest");
export type Evaluations = z.infer<typeof EvaluationsRequest>;

/** What a permit or a deny carries besides the boolean (§5.5.1: the context is the PDP's to define). */
const AuthzenDecisionContext = z
  .object({
    code: z.string().optional().openapi({ description: "a deny's Baton reason code", example: "REPLAY_NONCE" }),
    reason: z.string().openapi({ description: "the gate's message" }),
    receipt: z.string().nullable().openapi({ description: "the signed receipt of the decision (null where the gate receipts nothing: a capability that does not verify, a sealed sequence)" }),
    sequence: z.string().optional().openapi({ description: "a permit's sequence" }),
    sealed: z.boolean().optional().openapi({ description: "a permit that sealed its sequence (its last use)" }),
    details: z.unknown().optional(),
  })
  .openapi("AuthZENDecisionContext");

export const DecisionSchema = z.object({ decision: z.boolean(), context: AuthzenDecisionContext }).openapi("AuthZENDecision");
export type Decision = z.infer<typeof DecisionSchema>;

export const EvaluationsResponse = z
  .union([z.object({ evaluations: z.array(DecisionSchema) }), DecisionSchema])
  .openapi("AuthZENEvaluationsResponse");

export const ConfigurationSchema = z
  .object({
    policy_decision_point: z.string(),
    access_evaluation_endpoint: z.string(),
    access_evaluations_endpoint: z.string(),
  })
  .openapi("AuthZENConfiguration");
