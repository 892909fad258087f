import type { OpenAPIHono } from "@hono/zod-openapi";
import { delegate } from "../../../ledger/delegation.js";
import { requireCaller } from "../../auth.js";
import type { AppEnv } from "../../context.js";
import { authedRoute } from "../../openapi.js";
import { answer } from "../../respond.js";
import { DelegateBody, DpopHeader, SequenceIdParam } from "../../schemas.js";
import { decisionResponse } from "./shared.js";

const delegateRoute = authedRoute({
  method: "post",
  path: "/v1/sequences/{id}/delegations",
  summary:
    "Start a sequence for a sub-agent (the actor, presenting its capability): its grants are a subset of the current stage, its act nests the delegating agent's",
  middleware: [requireCaller("agent")] as const,
  request: {
    params: SequenceIdParam,
    headers: DpopHeader,
    body: { required: true, content: { "application/json": { schema: DelegateBody } } },
  },
  responses: { 201: decisionResponse("the child sequence and its first capability") },
});

export function registerDelegate(app: OpenAPIHono<AppEnv>): void {
  app.openapi(delegateRoute, async (c) => {
    const body = c.req.valid("json");
    const dpop = c.req.valid("header").dpop;
    const result = await delegate(
      c.env.SEQUENCES,
      { keyring: c.get("keyring"), issuer: c.get("config").issuer },
      {
        caller: c.get("caller"),
        parent: c.req.valid("param").id,
        token: body.token,
        // A proof for this very request to Baton: its method and URL.
        dpop: dpop === undefined ? undefined : { proof: dpop, htm: c.req.method, htu: c.req.url },
        actor: body.actor,
        grants: body.grants,
        ttlSeconds: body.ttl_seconds,
        actorJwk: body.actor_jwk,
      },
    );
    // Like every answer that carries a capability: JSON with charset, never cached.
    return answer(result);
  });
}
