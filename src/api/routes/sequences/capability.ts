import type { OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { BatonError } from "../../../errors.js";
import { sequenceStub } from "../../../ledger/stub.js";
import { digestJson } from "../../../tokens/digest.js";
import { requireCaller } from "../../auth.js";
import type { AppEnv } from "../../context.js";
import { authedRoute } from "../../openapi.js";
import { answer } from "../../respond.js";
import { IdempotencyHeader, RevokeBody, SequenceIdParam } from "../../schemas.js";
import { decisionResponse } from "./shared.js";

const capabilityRoute = authedRoute({
  method: "post",
  path: "/v1/sequences/{id}/capability",
  summary: "The current stage's capability (agent); re-issued when expired, within the stage's limit",
  middleware: [requireCaller("agent")] as const,
  request: { params: SequenceIdParam, headers: IdempotencyHeader },
  responses: { 200: decisionResponse("current capability"), 422: { description: "IDEMPOTENCY_CONFLICT" } },
});

const revokeRoute = authedRoute({
  method: "post",
  path: "/v1/sequences/{id}/revoke",
  summary: "Seal the sequence now (orchestrator that started it). Permanent",
  middleware: [requireCaller("orchestrator")] as const,
  request: {
    params: SequenceIdParam,
    body: { required: false, content: { "application/json": { schema: RevokeBody } } },
  },
  responses: { 200: decisionResponse("sealed") },
});

export function registerCapability(app: OpenAPIHono<AppEnv>): void {
  app.openapi(capabilityRoute, async (c) => {
    const { id } = c.req.valid("param");
    const key = c.req.valid("header")["idempotency-key"];
    const ledger = sequenceStub(c.env.SEQUENCES, id);
    return answer(
      await ledger.capability({
        caller: c.get("caller"),
        idempotency: key ? { key, requestDigest: await digestJson({ op: "capability", id }) } : undefined,
      }),
    );
  });
}

export function registerRevoke(app: OpenAPIHono<AppEnv>): void {
  app.openapi(revokeRoute, async (c) => {
    const ledger = sequenceStub(c.env.SEQUENCES, c.req.valid("param").id);
    const reason = (await optionalJson(c, RevokeBody)).reason;
    return answer(await ledger.revoke({ caller: c.get("caller"), reason }));
  });
}

/** Revoke's body is optional: an empty body means the default reason. */
async function optionalJson<T extends z.ZodType>(c: Context<AppEnv>, schema: T): Promise<z.output<T>> {
  const text = await c.req.text();
  let raw: unknown = {};
  if (text.trim() !== "") {
    try {
      raw = JSON.parse(text);
    } catch {
      throw new BatonError("INVALID_REQUEST", "body is not JSON");
    }
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new BatonError("INVALID_REQUEST", "body does not match the schema", { details: parsed.error.issues });
  return parsed.data;
}
