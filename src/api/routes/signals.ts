import { type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { BatonError } from "../../errors.js";
import { requireCaller } from "../auth.js";
import type { AppEnv } from "../context.js";
import { authedRoute } from "../openapi.js";
import { json, rendered } from "../respond.js";
import { PartyName } from "../schemas.js";

const PartyShape = { actor: PartyName.optional(), subject: PartyName.optional() };
const exactlyOne = [
  (p: { actor?: string | undefined; subject?: string | undefined }) => (p.actor === undefined) !== (p.subject === undefined),
  { message: "name exactly one of actor or subject" },
] as const;
const Party = z.object(PartyShape).refine(...exactlyOne);

const listRoute = authedRoute({
  method: "get",
  path: "/v1/signals",
  summary: "Signals of the analysis plane about one actor or one subject (operator, auditor, orchestrator)",
  middleware: [requireCaller("operator", "auditor", "orchestrator")] as const,
  request: {
    query: z
      .object({
        ...PartyShape,
        // The log is paged: the latest entries by default, or those after `log_after`.
        log_after: z.coerce.number().int().min(-1).optional(),
        log_limit: z.coerce.number().int().min(1).max(1_000).optional(),
        // Opt-in: counting the rows is a scan of the analyst's tables, not for every poll.
        stored: z.enum(["true", "false"]).optional(),
        // Only the signals in force, without the cleared ones.
        in_force: z.enum(["true", "false"]).optional(),
      })
      .refine(...exactlyOne),
  },
  responses: {
    200: {
      description:
        "signals with their status and signed JWS, a page of the signed log of their events (the latest 100, or `log_limit` after `log_after`), and with ?stored=true the rows the analyst keeps",
    },
  },
});

const actRoute = (action: "acknowledge" | "clear") =>
  authedRoute({
    method: "post",
    path: `/v1/signals/{id}/${action}`,
    summary:
      action === "clear"
        ? "Clear a signal (operator): no longer in force; the clearing is a signed log event"
        : "Acknowledge a signal (operator): seen, still in force; a signed log event",
    middleware: [requireCaller("operator")] as const,
    request: {
      params: z.object({ id: z.string().min(1).max(128).openapi({ param: { name: "id", in: "path" } }) }),
      body: { required: true, content: { "application/json": { schema: Party.and(z.object({ note: z.string().max(500).optional() })) } } },
    },
    responses: { 200: { description: "the new status and the signed log entry" } },
  });

export function registerSignals(app: OpenAPIHono<AppEnv>): void {
  app.openapi(listRoute, async (c) => {
    const query = c.req.valid("query");
    const scope = scopeOf(query);
    const analyst = analystOf(c, scope);
    const page = { ...(query.log_after === undefined ? {} : { after: query.log_after }), ...(query.log_limit === undefined ? {} : { limit: query.log_limit }) };
    const [signals, log, stored] = await Promise.all([
      analyst.list({ scope, inForce: query.in_force === "true" }),
      analyst.log(page),
      query.stored === "true" ? analyst.stored() : undefined,
    ]);
    // `stored` (with ?stored=true): the rows the analyst keeps, so an operator sees that its memory stays bounded.
    return json({ scope, signals, log, ...(stored ? { stored } : {}) });
  });
  for (const action of ["acknowledge", "clear"] as const) {
    app.openapi(actRoute(action), async (c) => {
      const body = c.req.valid("json");
      const scope = scopeOf(body);
      const result = await analystOf(c, scope).act({ scope, id: c.req.valid("param").id, action, operator: c.get("caller").id, note: body.note });
      return rendered(result);
    });
  }
}

function scopeOf(party: { actor?: string | undefined; subject?: string | undefined }): string {
  if (party.actor) return `actor:${party.actor}`;
  if (party.subject) return `subject:${party.subject}`;
  throw new BatonError("INVALID_REQUEST", "name exactly one of actor or subject");
}

function analystOf(c: Context<AppEnv>, scope: string) {
  return c.env.ANALYSTS.get(c.env.ANALYSTS.idFromName(scope));
}
