import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { SEQUENCE_INDEX_NAME } from "../../ledger/sequence-index-rules.js";
import type { IndexedSequence } from "../../ledger/sequence-index.js";
import { sequenceStub } from "../../ledger/stub.js";
import { SequenceIdParam } from "../schemas.js";
import type { AppEnv } from "../context.js";
import { registerConsoleApprovals } from "./approvals.js";
import { CONSOLE_CSS, pageHeaders } from "./layout.js";
import { registerConsoleOperator } from "./operator.js";
import { detailPage, enrolPage, queuePage, signInPage } from "./pages.js";
import { CONSOLE_JS } from "./script.js";
import { currentSession } from "./session.js";
import { registerConsoleSignIn } from "./sign-in.js";

const HTML = "text/html; charset=utf-8";
/** Sequences per group on the approver's queue page. */
const QUEUE_LIMIT = 50;

/**
 * The console under /console, served by the API's Worker: server-rendered pages (hono/html,
 * every value escaped), one same-origin script and stylesheet, a strict CSP. Pages read through
 * the ledger as the signed-in person (role approver); the JSON routes under /console/api take a
 * passkey session and its CSRF token, never an API key.
 */
export function registerConsole(app: OpenAPIHono<AppEnv>): void {
  registerConsoleSignIn(app);
  registerConsoleApprovals(app);
  registerConsoleOperator(app);

  app.get("/console/console.js", (c) => c.body(CONSOLE_JS, 200, { ...pageHeaders("text/javascript; charset=utf-8"), "cache-control": "no-cache" }));
  app.get("/console/console.css", (c) => c.body(CONSOLE_CSS, 200, { ...pageHeaders("text/css; charset=utf-8"), "cache-control": "no-cache" }));
  app.get("/console/enrol", async (c) => page(c, await enrolPage()));

  app.get("/console", async (c) => {
    const session = await currentSession(c);
    if (!session) return page(c, await signInPage());
    if (session.role !== "approver") return c.redirect("/console/sequences", 303);
    const groups = c.get("config").approvers.get(session.principal)?.groups ?? [];
    const index = c.env.SEQUENCE_INDEX.get(c.env.SEQUENCE_INDEX.idFromName(SEQUENCE_INDEX_NAME));
    const pages = await Promise.all(groups.map((group) => index.list({ waiting: "approval", group, status: "active", limit: QUEUE_LIMIT })));
    const seen = new Map<string, IndexedSequence>();
    for (const { sequences } of pages) for (const s of sequences) seen.set(s.seq, s);
    const waiting = [...seen.values()].sort((a, b) => b.created_at - a.created_at);
    return page(c, await queuePage(view(c, session), groups, waiting));
  });

  app.get("/console/sequences/:id", async (c) => {
    const session = await currentSession(c);
    if (!session) return c.redirect("/console", 303);
    if (session.role !== "approver") return c.redirect(`/console/sequences/${c.req.param("id")}/timeline`, 303);
    const parsed = SequenceIdParam.safeParse({ id: c.req.param("id") });
    if (!parsed.success) return page(c, "<p>No such sequence.</p>", 404);
    const described = await sequenceStub(c.env.SEQUENCES, parsed.data.id).describe({ caller: { id: session.principal, role: "approver" } });
    if (described.kind !== "sequence") return page(c, "<p>No such sequence, or not yours to read.</p>", 404);
    return page(c, await detailPage(view(c, session), described.body as unknown as Parameters<typeof detailPage>[1]));
  });
}

const view = (c: Context<AppEnv>, session: { principal: string; csrf: string }) => ({
  principal: session.principal,
  csrf: session.csrf,
  rpId: c.get("config").passkeys.rp_id,
});

function page(c: Context<AppEnv>, body: string, status: 200 | 404 = 200): Response {
  return c.body(body, status, pageHeaders(HTML));
}
