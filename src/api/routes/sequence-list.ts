import { type OpenAPIHono, z } from "@hono/zod-openapi";
import { base64url } from "jose";
import { BatonError } from "../../errors.js";
import { SEQUENCE_INDEX_NAME } from "../../ledger/sequence-index-rules.js";
import { Identifier } from "../../policy/workflow-schema.js";
import { requireCaller } from "../auth.js";
import type { AppEnv } from "../context.js";
import { authedRoute } from "../openapi.js";
import { json } from "../respond.js";
import { PartyName } from "../schemas.js";

/** Sequences per page: the default, and at most. */
const LIST_DEFAULT_LIMIT = 50;
const LIST_MAX_LIMIT = 100;

/** The opaque cursor: the last listed row's (created, seq), base64url JSON; checked like any input. */
const CursorSchema = z.tuple([z.number().int().nonnegative(), z.string().regex(/^[0-9a-f]{64}$/)]);

const ListQuery = z
  .object({
    workflow: Identifier.optional(),
    status: z.enum(["active", "sealed"]).optional(),
    actor: PartyName.optional(),
    subject: PartyName.optional(),
    waiting: z.literal("approval").optional().openapi({ description: "only sequences whose gate waits for approvals" }),
    group: Identifier.optional().openapi({ description: "with waiting=approval: only gates waiting for this group" }),
    cursor: z.string().max(256).optional().openapi({ description: "`next` of the previous page" }),
    limit: z.coerce.number().int().min(1).max(LIST_MAX_LIMIT).optional(),
  })
  .refine((q) => q.group === undefined || q.waiting === "approval", { message: "group needs waiting=approval", path: ["group"] });

const ListedSequence = z
  .object({
    seq: z.string(),
    workflow: z.string(),
    actor: z.string(),
    subject: z.string(),
    orchestrator: z.string(),
    created_at: z.number().openapi({ description: "milliseconds since the epoch" }),
    updated_at: z.number().openapi({ description: "when the last receipt the index read was decided (ms)" }),
    status: z.enum(["active", "sealed"]),
    seal_reason: z.string().nullable(),
    stage: z.string(),
    waiting: z
      .object({ stage: z.string(), group: z.string(), required: z.number(), remaining: z.number(), until: z.number().nullable() })
      .nullable()
      .openapi({ description: "the gate waits for approvals: of which group, how many, until when (seconds; null while none counts)" }),
  })
  .openapi("ListedSequence");
const SequenceListSchema = z.object({ sequences: z.array(ListedSequence), next: z.string().nullable() }).openapi("SequenceList");

const listRoute = authedRoute({
  method: "get",
  path: "/v1/sequences",
  summary: "Sequences, newest first, from the sequence index (operator, auditor; an orchestrator sees its own)",
  middleware: [requireCaller("operator", "auditor", "orchestrator")] as const,
  request: { query: ListQuery },
  responses: {
    200: {
      description:
        "a page of sequences and `next`, the cursor of the following page or null. The index follows the ledgers within moments (their outbox): a ledger's own answer is authoritative",
      content: { "application/json": { schema: SequenceListSchema } },
    },
  },
});

export function registerSequenceList(app: OpenAPIHono<AppEnv>): void {
  app.openapi(listRoute, async (c) => {
    const { cursor, limit, ...filters } = c.req.valid("query");
    const caller = c.get("caller");
    const index = c.env.SEQUENCE_INDEX.get(c.env.SEQUENCE_INDEX.idFromName(SEQUENCE_INDEX_NAME));
    const before = cursor === undefined ? undefined : decodeCursor(cursor);
    const page = await index.list({
      ...definedOnly(filters),
      // An orchestrator reads its own sequences only, as it does each one's receipts (access.ts).
      ...(caller.role === "orchestrator" ? { orchestrator: caller.id } : {}),
      ...(before ? { before } : {}),
      limit: limit ?? LIST_DEFAULT_LIMIT,
    });
    const last = page.sequences.at(-1);
    const next = page.more && last ? encodeCursor(last.created_at, last.seq) : null;
    return json({ sequences: page.sequences, next });
  });
}

function encodeCursor(created: number, seq: string): string {
  return base64url.encode(JSON.stringify([created, seq]));
}

function decodeCursor(cursor: string): { created: number; seq: string } {
  let parsed: z.ZodSafeParseResult<[number, string]>;
  try {
    parsed = CursorSchema.safeParse(JSON.parse(new TextDecoder().decode(base64url.decode(cursor))));
  } catch {
    parsed = CursorSchema.safeParse(null);
  }
  if (!parsed.success) throw new BatonError("INVALID_REQUEST", "cursor is not one this endpoint gave", { details: [{ path: ["cursor"], message: "unknown cursor" }] });
  return { created: parsed.data[0], seq: parsed.data[1] };
}

function definedOnly<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
