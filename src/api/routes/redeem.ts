import type { OpenAPIHono } from "@hono/zod-openapi";
import { BatonError } from "../../errors.js";
import { verifyCapabilitySignature } from "../../tokens/capability.js";
import { checkDpopProof } from "../../tokens/dpop.js";
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
    const tool = caller.role.slice("tool:".length);
    const check = await verifyCapabilitySignature(body.token, c.get("keyring"), c.get("config").issuer);
    // A token that does not verify names no sequence we can trust, so nothing is receipted.
    if (!check.ok) throw new BatonError("TOKEN_INVALID", check.message);
    const namespace = c.env.SEQUENCES;
    let id: DurableObjectId;
    try {
      id = namespace.idFromString(check.claims.seq);
    } catch {
      throw new BatonError("TOKEN_INVALID", "capability names no sequence of this Baton");
    }
    return answer(
      await namespace.get(id).redeem({
        caller,
        tool,
        action: body.action,
        args: body.args,
        token: check.claims,
        tokenDigest: check.digest,
        // The proof's signature is checked here; its binding, time and one-time jti by the ledger.
        dpop: body.dpop && { proof: await checkDpopProof(body.dpop.proof), htm: body.dpop.htm, htu: body.dpop.htu },
        ...(body.refused ? { refused: body.refused } : {}),
      }),
    );
  });
}
