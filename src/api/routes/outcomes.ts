import type { OpenAPIHono } from "@hono/zod-openapi";
import { BatonError } from "../../errors.js";
import { verifyJws } from "../../tokens/jws.js";
import { SIGNING_ALGORITHM, TYP } from "../../tokens/kinds.js";
import { ReceiptClaimsSchema, receiptHash } from "../../tokens/receipt.js";
import { requireCaller } from "../auth.js";
import type { AppEnv } from "../context.js";
import { authedRoute } from "../openapi.js";
import { answer } from "../respond.js";
import { DecisionSchema, OutcomeBody } from "../schemas.js";

const outcomeRoute = authedRoute({
  method: "post",
  path: "/v1/outcomes",
  summary: "Report what happened after an allowed action (the tool that redeemed it): succeeded, failed or unknown; receipted",
  middleware: [requireCaller("tool:*")] as const,
  request: { body: { required: true, content: { "application/json": { schema: OutcomeBody } } } },
  responses: { 200: { description: "recorded (and, when a gate waited for it, the next capability)", content: { "application/json": { schema: DecisionSchema } } } },
});

export function registerOutcomes(app: OpenAPIHono<AppEnv>): void {
  app.openapi(outcomeRoute, async (c) => {
    const body = c.req.valid("json");
    const caller = c.get("caller");
    const tool = caller.role.slice("tool:".length);
    const keyring = c.get("keyring");
    // The report names Baton's own ALLOW receipt of this tool's redeem: verified like any token.
    const jws = await verifyJws(body.receipt, { typ: TYP.receipt, algorithms: [SIGNING_ALGORITHM], resolveKey: (kid) => keyring.publicKey(kid) });
    if (!jws.ok) throw new BatonError("EVIDENCE_INVALID", `receipt: ${jws.message}`);
    const parsed = ReceiptClaimsSchema.safeParse(jws.payload);
    if (!parsed.success) throw new BatonError("EVIDENCE_INVALID", "receipt: its claims are not a receipt's");
    const claims = parsed.data;
    if (claims.kind !== "redeem" || claims.inputs.kind !== "redeem" || claims.decision !== "ALLOW") {
      throw new BatonError("EVIDENCE_INVALID", "only an allowed redeem has an outcome");
    }
    const { inputs } = claims;
    if (inputs.tool !== tool) throw new BatonError("FORBIDDEN", "only the tool that redeemed the capability reports its outcome");
    const namespace = c.env.SEQUENCES;
    let id: DurableObjectId;
    try {
      id = namespace.idFromString(claims.seq);
    } catch {
      throw new BatonError("EVIDENCE_INVALID", "receipt names no sequence of this Baton");
    }
    return answer(
      await namespace.get(id).outcome({
        caller,
        tool,
        redeemed: { n: claims.n, hash: await receiptHash(body.receipt), stage: claims.stage, action: inputs.action },
        outcome: body.outcome,
        detail: body.detail,
      }),
    );
  });
}
