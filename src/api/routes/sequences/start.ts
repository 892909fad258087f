import type { OpenAPIHono } from "@hono/zod-openapi";
import { BatonError } from "../../../errors.js";
import { actorThumbprint } from "../../../ledger/actor-key.js";
import { ledgerAt } from "../../../ledger/stub.js";
import { canonicalJson, digestJson } from "../../../tokens/digest.js";
import { requireCaller } from "../../auth.js";
import type { AppEnv } from "../../context.js";
import { authedRoute } from "../../openapi.js";
import { answer } from "../../respond.js";
import { IdempotencyHeader, StartSequenceBody } from "../../schemas.js";
import { decisionResponse } from "./shared.js";

const startRoute = authedRoute({
  method: "post",
  path: "/v1/sequences",
  summary: "Start a sequence of a workflow (orchestrator); returns the first stage's capability",
  middleware: [requireCaller("orchestrator")] as const,
  request: {
    headers: IdempotencyHeader,
    body: { required: true, content: { "application/json": { schema: StartSequenceBody } } },
  },
  responses: { 201: decisionResponse("sequence started"), 422: { description: "IDEMPOTENCY_CONFLICT" } },
});

export function registerStart(app: OpenAPIHono<AppEnv>): void {
  app.openapi(startRoute, async (c) => {
    const body = c.req.valid("json");
    const caller = c.get("caller");
    const workflow = c.get("config").workflows.get(body.workflow);
    if (!workflow) throw new BatonError("UNKNOWN_WORKFLOW", `no workflow ${body.workflow}`);
    const allowed = c.get("config").clients.find((client) => client.id === caller.id)?.workflows ?? [];
    if (!allowed.includes("*") && !allowed.includes(workflow.id)) {
      throw new BatonError("FORBIDDEN", `orchestrator ${caller.id} may not start ${workflow.id}`);
    }
    const params = workflow.params.safeParse(body.params);
    if (!params.success) {
      throw new BatonError("INVALID_REQUEST", "params do not match the workflow's parameter schema", {
        details: params.error.issues,
      });
    }
    const actorJkt = body.actor_jwk === undefined ? undefined : await actorThumbprint(body.actor_jwk);
    if (workflow.definition.sender_constrained && !actorJkt) {
      throw new BatonError("INVALID_REQUEST", `workflow ${workflow.id} is sender-constrained: actor_jwk (the agent's public key) is required`);
    }
    const key = c.req.valid("header")["idempotency-key"];
    const namespace = c.env.SEQUENCES;
    // An idempotent start names its object after the caller and key, so a retry
    // reaches the same sequence; otherwise the id is random. Either way Baton mints it.
    const id = key ? namespace.idFromName(`start\u0000${caller.id}\u0000${key}`) : namespace.newUniqueId();
    return answer(
      await ledgerAt(namespace, id).start({
        caller,
        workflow: { id: workflow.id, hash: workflow.hash, definition: canonicalJson(workflow.definition) },
        params: params.data as Record<string, unknown>,
        subject: body.subject,
        actor: body.actor,
        actorJkt,
        idempotency: key ? { key, requestDigest: await digestJson({ op: "start", body }) } : undefined,
      }),
    );
  });
}
