import { type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { BatonError } from "../../errors.js";
import { SEQUENCE_INDEX_NAME } from "../../ledger/sequence-index-rules.js";
import { sequenceStub } from "../../ledger/stub.js";
import { Identifier } from "../../policy/workflow-schema.js";
import type { AppEnv } from "../context.js";
import { STANDARD_ERRORS, documentedRoute } from "../openapi.js";
import { answer, rendered } from "../respond.js";
import { PartyName, SequenceIdParam } from "../schemas.js";
import { sequenceBundle } from "../routes/sequences/bundle.js";
import { decisionResponse } from "../routes/sequences/shared.js";
import { pageHeaders } from "./layout.js";
import { sequencesPage, signalsPage, timelinePage } from "./operator-pages.js";
import { currentSession, mutatingSession } from "./session.js";
import { timelineRow } from "./timeline.js";

/** Rows on one sequences page, and receipts on one timeline (the API pages further). */
const LIST_LIMIT = 100;
const TIMELINE_LIMIT = 1000;
const HTML = "text/html; charset=utf-8";

const ListFilters = z.object({
  workflow: Identifier.optional().catch(undefined),
  status: z.enum(["active", "sealed"]).optional().catch(undefined),
  actor: PartyName.optional().catch(undefined),
  subject: PartyName.optional().catch(undefined),
});
const Party = z.object({ actor: PartyName.optional().catch(undefined), subject: PartyName.optional().catch(undefined) });
const ERRORS = { ...STANDARD_ERRORS, 415: { description: "UNSUPPORTED_MEDIA_TYPE" } };

const revokeRoute = documentedRoute({
  method: "post",
  path: "/console/api/sequences/{id}/revoke",
  summary: "The console's revoke: seals the sequence, as POST /v1/sequences/{id}/revoke (the orchestrator that started it; session and x-baton-csrf)",
  request: {
    params: SequenceIdParam,
    body: { required: true, content: { "application/json": { schema: z.object({ reason: z.string().trim().min(1).max(500) }).strict() } } },
  },
  responses: { 200: decisionResponse("sealed"), ...ERRORS },
});

const signalRoute = (action: "acknowledge" | "clear") =>
  documentedRoute({
    method: "post",
    path: `/console/api/signals/{id}/${action}`,
    summary: `The console's ${action} of a signal, as POST /v1/signals/{id}/${action} (operator; session and x-baton-csrf)`,
    request: {
      params: z.object({ id: z.string().min(1).max(128).openapi({ param: { name: "id", in: "path" } }) }),
      body: {
        required: true,
        content: { "application/json": { schema: z.object({ actor: PartyName.optional(), subject: PartyName.optional(), note: z.string().max(500).optional() }).strict() } },
      },
    },
    responses: { 200: { description: "the new status and the signed log entry" }, ...ERRORS },
  });

/**
 * The operator's, orchestrator's and auditor's pages. Each acts as the signed-in client with
 * that client's role, under the ledger's own access rules (ledger/access.ts): an orchestrator
 * sees and revokes its own sequences, an auditor reads every timeline, an operator lists
 * sequences and handles signals but reads no receipts — as through the API.
 */
export function registerConsoleOperator(app: OpenAPIHono<AppEnv>): void {
  app.get("/console/sequences", async (c) => {
    const session = await signedIn(c, ["operator", "auditor", "orchestrator"]);
    if (session instanceof Response) return session;
    const filters = definedOnly(ListFilters.parse(c.req.query()));
    const index = c.env.SEQUENCE_INDEX.get(c.env.SEQUENCE_INDEX.idFromName(SEQUENCE_INDEX_NAME));
    const page = await index.list({ ...filters, ...(session.role === "orchestrator" ? { orchestrator: session.principal } : {}), limit: LIST_LIMIT });
    return c.body(await sequencesPage(view(c, session), filters, page.sequences), 200, pageHeaders(HTML));
  });

  app.get("/console/sequences/:id/timeline", async (c) => {
    const session = await signedIn(c, ["auditor", "orchestrator"]);
    if (session instanceof Response) return session;
    const id = SequenceIdParam.safeParse({ id: c.req.param("id") });
    if (!id.success) return c.body("<p>No such sequence.</p>", 404, pageHeaders(HTML));
    const ledger = sequenceStub(c.env.SEQUENCES, id.data.id);
    const caller = { id: session.principal, role: session.role };
    const [described, receipts] = await Promise.all([ledger.describe({ caller }), ledger.receipts({ caller, after: -1, limit: TIMELINE_LIMIT })]);
    if (described.kind !== "sequence" || receipts.kind !== "receipts") return c.body("<p>No such sequence, or not yours to read.</p>", 404, pageHeaders(HTML));
    const status = String((described.body as { status?: unknown }).status ?? "");
    return c.body(await timelinePage(view(c, session), id.data.id, status, receipts.receipts.map(timelineRow)), 200, pageHeaders(HTML));
  });

  app.get("/console/sequences/:id/receipts.txt", async (c) => {
    const session = await currentSession(c);
    if (!session) throw new BatonError("UNAUTHENTICATED", "sign in to the console first (a passkey session is required)");
    const id = SequenceIdParam.safeParse({ id: c.req.param("id") });
    if (!id.success) throw new BatonError("UNKNOWN_SEQUENCE", "no such sequence");
    const receipts = await sequenceStub(c.env.SEQUENCES, id.data.id).receipts({ caller: { id: session.principal, role: session.role }, after: -1, limit: TIMELINE_LIMIT });
    if (receipts.kind !== "receipts") return answer(receipts);
    return c.body(receipts.receipts.map((r) => `${r}\n`).join(""), 200, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" });
  });

  // The evidence bundle of GET /v1/sequences/{id}/bundle, built by the same function for the auditor's session.
  app.get("/console/sequences/:id/bundle.json", async (c) => {
    const session = await currentSession(c);
    if (!session) throw new BatonError("UNAUTHENTICATED", "sign in to the console first (a passkey session is required)");
    if (session.role !== "auditor") throw new BatonError("FORBIDDEN", `role ${session.role} may not call this endpoint`);
    const id = SequenceIdParam.safeParse({ id: c.req.param("id") });
    if (!id.success) throw new BatonError("UNKNOWN_SEQUENCE", "no such sequence");
    const bundle = await sequenceBundle(c, id.data.id, { id: session.principal, role: session.role });
    if (bundle.ok) bundle.headers.set("content-disposition", `attachment; filename="bundle-${id.data.id.slice(0, 12)}.json"`);
    return bundle;
  });

  app.openapi(revokeRoute, async (c) => {
    const session = await mutatingSession(c);
    const { reason } = c.req.valid("json");
    return answer(await sequenceStub(c.env.SEQUENCES, c.req.valid("param").id).revoke({ caller: { id: session.principal, role: session.role }, reason }));
  });

  app.get("/console/signals", async (c) => {
    const session = await signedIn(c, ["operator", "auditor", "orchestrator"]);
    if (session instanceof Response) return session;
    const party = definedOnly(Party.parse(c.req.query()));
    const scope = scopeOf(party);
    const signals = scope ? await c.env.ANALYSTS.get(c.env.ANALYSTS.idFromName(scope)).list({ scope, inForce: false }) : null;
    return c.body(await signalsPage(view(c, session), party, signals), 200, pageHeaders(HTML));
  });

  for (const action of ["acknowledge", "clear"] as const) {
    app.openapi(signalRoute(action), async (c) => {
      const session = await mutatingSession(c);
      if (session.role !== "operator") throw new BatonError("FORBIDDEN", `role ${session.role} may not call this endpoint`);
      const body = c.req.valid("json");
      const scope = scopeOf(body);
      if (!scope) throw new BatonError("INVALID_REQUEST", "name exactly one of actor or subject");
      const analyst = c.env.ANALYSTS.get(c.env.ANALYSTS.idFromName(scope));
      return rendered(await analyst.act({ scope, id: c.req.valid("param").id, action, operator: session.principal, note: body.note }));
    });
  }
}

/** The session, when its role is one of `roles`; otherwise the answer to send (sign in, or not for this role). */
async function signedIn(c: Context<AppEnv>, roles: string[]) {
  const session = await currentSession(c);
  if (!session) return c.redirect("/console", 303);
  if (!roles.includes(session.role)) return c.body("<p>This page is not for your role.</p>", 403, pageHeaders(HTML));
  return session;
}

const view = (c: Context<AppEnv>, s: { principal: string; csrf: string; role: string }) => ({ principal: s.principal, csrf: s.csrf, role: s.role, rpId: c.get("config").passkeys.rp_id });

/** The analyst's scope for exactly one of actor or subject (as /v1/signals), else null. */
function scopeOf(party: { actor?: string | undefined; subject?: string | undefined }): string | null {
  if ((party.actor === undefined) === (party.subject === undefined)) return null;
  return party.actor ? `actor:${party.actor}` : `subject:${party.subject}`;
}

function definedOnly<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== "")) as Partial<T>;
}
