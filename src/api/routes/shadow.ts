import { type OpenAPIHono, z } from "@hono/zod-openapi";
import { base64url } from "jose";
import { BatonError } from "../../errors.js";
import { SEQUENCE_INDEX_NAME } from "../../ledger/sequence-index-rules.js";
import { RECEIPT_KINDS } from "../../tokens/receipt.js";
import { requireCaller } from "../auth.js";
import type { AppEnv } from "../context.js";
import { authedRoute } from "../openapi.js";
import { json } from "../respond.js";

/** Entries per page: the default, and at most. */
const SHADOW_DEFAULT_LIMIT = 50;
const SHADOW_MAX_LIMIT = 100;

const VersionHash = z.string().regex(/^[A-Za-z0-9_-]{43}$/, "a workflow version hash");
const SequenceId = z.string().regex(/^[0-9a-f]{64}$/, "a sequence id");
/** The opaque cursor: the last listed entry's (at, seq, n), base64url JSON; checked like any input. */
const CursorSchema = z.tuple([z.number().int().nonnegative(), SequenceId, z.number().int().nonnegative()]);

const ShadowQuery = z.object({
  candidate: VersionHash.optional().openapi({ description: "only decisions shadowed under this candidate version" }),
  flip: z.enum(["decision", "code", "error"]).optional().openapi({ description: "decision: ALLOW/DENY/ESCALATE differ; code: only the reason code; error: the candidate could not decide" }),
  kind: z.enum(RECEIPT_KINDS).optional(),
  seq: SequenceId.optional().openapi({ description: "only this sequence's decisions" }),
  cursor: z.string().max(256).optional().openapi({ description: "`next` of the previous page" }),
  limit: z.coerce.number().int().min(1).max(SHADOW_MAX_LIMIT).optional(),
});

const Side = z.object({ decision: z.enum(["ALLOW", "DENY", "ESCALATE"]), code: z.string().nullable(), condition: z.string().nullable() });
const ShadowEntry = z
  .object({
    seq: z.string(),
    n: z.number(),
    at: z.number().openapi({ description: "milliseconds since the epoch: the `now` both decisions were made at" }),
    kind: z.string(),
    stage: z.string(),
    version: z.string().openapi({ description: "the enforced workflow version" }),
    candidate: z.string().nullable(),
    flip: z.enum(["decision", "code", "error"]),
    enforced: Side,
    shadow: Side.extend({ message: z.string() }).nullable(),
    error: z.string().optional(),
    receipt: z.string().optional().openapi({ description: "the signed receipt recording both sides (auditors only)" }),
  })
  .openapi("ShadowEntry");
const ShadowReport = z
  .object({
    workflow: z.string(),
    version: z.string().openapi({ description: "the version new sequences start under" }),
    candidate: z
      .object({ hash: z.string().nullable(), compiles: z.boolean(), issues: z.array(z.object({ path: z.string(), message: z.string() })) })
      .nullable()
      .openapi({ description: "the candidate configured now, or null" }),
    promotion: z
      .object({ from: z.string(), first_sequence: z.string().nullable() })
      .nullable()
      .openapi({ description: "when the current version was promoted: the version it replaced, and the first sequence started under it" }),
    decisions: z.array(ShadowEntry),
    next: z.string().nullable(),
  })
  .openapi("ShadowReport");

const shadowRoute = authedRoute({
  method: "get",
  path: "/v1/workflows/{id}/shadow",
  summary: "The decisions a shadow candidate of the workflow would flip, newest first (auditor; operator without the receipts)",
  middleware: [requireCaller("auditor", "operator")] as const,
  request: { params: z.object({ id: z.string().max(64).openapi({ param: { name: "id", in: "path" } }) }), query: ShadowQuery },
  responses: {
    200: {
      description: "a page of flipped decisions across the workflow's sequences and `next`; fed by the ledgers' outboxes, so it trails them by moments",
      content: { "application/json": { schema: ShadowReport } },
    },
  },
});

export function registerShadow(app: OpenAPIHono<AppEnv>): void {
  app.openapi(shadowRoute, async (c) => {
    const config = c.get("config");
    const workflow = config.workflows.get(c.req.valid("param").id);
    if (!workflow) throw new BatonError("UNKNOWN_WORKFLOW", "no such workflow");
    const { cursor, limit, ...filters } = c.req.valid("query");
    const before = cursor === undefined ? undefined : decodeCursor(cursor);
    const index = c.env.SEQUENCE_INDEX.get(c.env.SEQUENCE_INDEX.idFromName(SEQUENCE_INDEX_NAME));
    const page = await index.shadow({
      workflow: workflow.id,
      version: workflow.hash,
      ...Object.fromEntries(Object.entries(filters).filter(([, v]) => v !== undefined)),
      ...(before ? { before } : {}),
      limit: limit ?? SHADOW_DEFAULT_LIMIT,
    });
    // Receipts are the auditors' (and their orchestrator's) to read (ledger/access.ts): an operator
    // sees what flipped and why, not the decisions' inputs.
    const withReceipts = c.get("caller").role === "auditor";
    const decisions = page.entries.map(({ receipt, ...entry }) => (withReceipts ? { ...entry, receipt } : entry));
    const last = page.entries.at(-1);
    const candidate = config.candidates.get(workflow.id);
    const from = config.promotions.get(workflow.id);
    return json({
      workflow: workflow.id,
      version: workflow.hash,
      candidate: candidate ? { hash: candidate.compiled?.hash ?? null, compiles: candidate.compiled !== null, issues: candidate.issues } : null,
      promotion: from ? { from, first_sequence: page.promotion?.from === from ? page.promotion.seq : null } : null,
      decisions,
      next: page.more && last ? base64url.encode(JSON.stringify([last.at, last.seq, last.n])) : null,
    });
  });
}

function decodeCursor(cursor: string): { at: number; seq: string; n: number } {
  let parsed: z.ZodSafeParseResult<[number, string, number]>;
  try {
    parsed = CursorSchema.safeParse(JSON.parse(new TextDecoder().decode(base64url.decode(cursor))));
  } catch {
    parsed = CursorSchema.safeParse(null);
  }
  if (!parsed.success) throw new BatonError("INVALID_REQUEST", "cursor is not one this endpoint gave", { details: [{ path: ["cursor"], message: "unknown cursor" }] });
  return { at: parsed.data[0], seq: parsed.data[1], n: parsed.data[2] };
}
