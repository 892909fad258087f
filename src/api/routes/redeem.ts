import type { OpenAPIHono } from "@hono/zod-openapi";
import { presentAtGate } from "../../ledger/gate.js";
import { requireCaller } from "../auth.js";
import type { AppEnv } from "../context.js";
import { authedRoute } from "../openapi.js";
import { answer } from "../respond.js";
import { DecisionSchema, RedeemBody } from "../schemas.js";

const redeemRoute = authedRoute({
  method: "post",
  path: "/v1/redeem",
  summary:
    "The gate (tool server): ALLOW with a receipt before the action runs, or DENY with a code; with `refused`, the receipt of a refusal the tool's offline check made",
  middleware: [requireCaller("tool:*")] as const,
  request: { body: { required: true, content: { "application/json": { schema: RedeemBody } } } },
  responses: { 200: { description: "ALLOW", content: { "application/json": { schema: DecisionSchema } } } },
});

export function registerRedeem(app: OpenAPIHono<AppEnv>): void {
  app.openapi(redeemRoute, async (c) => {
    const body = c.req.valid("json");
    const caller = c.get("caller");
    return answer(
      await presentAtGate(
        c.env.SEQUENCES,
        { keyring: c.get("keyring"), issuer: c.get("config").issuer },
        { caller, tool: caller.role.slice("tool:".length), token: body.token, action: body.action, args: body.args, dpop: body.dpop, refused: body.refused },
      ),
    );
  });
}
