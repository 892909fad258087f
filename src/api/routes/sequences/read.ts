import { type OpenAPIHono, z } from "@hono/zod-openapi";
import { RECEIPTS_PAGE_SIZE } from "../../../limits.js";
import type { LedgerAnswer } from "../../../ledger/answers.js";
import { sequenceStub } from "../../../ledger/stub.js";
import { requireCaller } from "../../auth.js";
import type { AppEnv } from "../../context.js";
import { authedRoute } from "../../openapi.js";
import { answer } from "../../respond.js";
import { ReceiptsQuery, SequenceIdParam, SequenceSchema } from "../../schemas.js";

const getRoute = authedRoute({
  method: "get",
  path: "/v1/sequences/{id}",
  summary: "A sequence's state: current stage, status, what the next gate waits for, head receipt",
  middleware: [requireCaller()] as const,
  request: { params: SequenceIdParam },
  responses: { 200: { description: "sequence", content: { "application/json": { schema: SequenceSchema } } } },
});

const receiptsRoute = authedRoute({
  method: "get",
  path: "/v1/sequences/{id}/receipts",
  summary: "The signed receipt chain, one compact JWS per line, oldest first (auditor or owning orchestrator)",
  middleware: [requireCaller("auditor", "orchestrator")] as const,
  request: { params: SequenceIdParam, query: ReceiptsQuery },
  responses: {
    200: {
      description:
        "text/plain, UTF-8: one receipt per line, each a compact JWS (RFC 7515 §7.1; alone, each line would be application/jose), " +
        "LF-terminated, oldest first, streamed page by page. Not JSON: `baton audit verify` reads it as is",
      content: { "text/plain": { schema: z.string().openapi({ example: "eyJhbGciOiJFZERTQSIsImtpZCI6Ii4uLiIsInR5cCI6ImJhdG9uLXJlY2VpcHQrand0In0.eyJ….sig\n" }) } },
    },
  },
});

export function registerDescribe(app: OpenAPIHono<AppEnv>): void {
  app.openapi(getRoute, async (c) => {
    const ledger = sequenceStub(c.env.SEQUENCES, c.req.valid("param").id);
    return answer(await ledger.describe({ caller: c.get("caller") }));
  });
}

export function registerReceipts(app: OpenAPIHono<AppEnv>): void {
  app.openapi(receiptsRoute, async (c) => {
    const ledger = sequenceStub(c.env.SEQUENCES, c.req.valid("param").id);
    const caller = c.get("caller");
    const first = await ledger.receipts({ caller, after: c.req.valid("query").after, limit: RECEIPTS_PAGE_SIZE });
    if (first.kind !== "receipts") return answer(first);
    // Page through the ledger while streaming, so no chain is ever held whole in memory.
    const encoder = new TextEncoder();
    const stream = new ReadableStream<Uint8Array>({
      async start(controller) {
        let page: LedgerAnswer = first;
        // Access was settled by the first page; a later one that were refused would end the stream.
        while (page.kind === "receipts") {
          const { receipts, last } = page;
          if (receipts.length > 0) controller.enqueue(encoder.encode(`${receipts.join("\n")}\n`));
          if (last === null || receipts.length < RECEIPTS_PAGE_SIZE) break;
          page = await ledger.receipts({ caller, after: last, limit: RECEIPTS_PAGE_SIZE });
        }
        controller.close();
      },
    });
    // One compact JWS per line is not JSON Lines: a text type, documented in the OpenAPI document.
    return new Response(stream, { headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" } });
  });
}
