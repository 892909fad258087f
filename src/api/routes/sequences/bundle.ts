import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { Caller } from "../../../ledger/protocol.js";
import { RECEIPTS_PAGE_SIZE } from "../../../limits.js";
import { directoryStub } from "../../../ledger/approver-protocol.js";
import { sequenceStub } from "../../../ledger/stub.js";
import { requireCaller } from "../../auth.js";
import type { AppEnv } from "../../context.js";
import { authedRoute } from "../../openapi.js";
import { answer, json } from "../../respond.js";
import { SequenceIdParam } from "../../schemas.js";

const bundleRoute = authedRoute({
  method: "get",
  path: "/v1/sequences/{id}/bundle",
  summary: "A sequence's evidence bundle, which `baton audit verify <bundle.json>` checks as it is (auditor)",
  middleware: [requireCaller("auditor")] as const,
  request: { params: SequenceIdParam },
  responses: {
    200: {
      description:
        "`{ receipts, jwks, signed_head, credentials, workflow }`: the receipt chain (compact JWS, oldest first), Baton's JWKS, the signed head, " +
        "the approvers' credentials with their signed log (as GET /v1/approvers/credentials), and the workflow version the chain names (omitted when the configuration no longer has it)",
    },
  },
});

/**
 * Everything an auditor needs in one file. Its JWKS is what this Baton publishes: an auditor
 * who holds Baton's keys from elsewhere pins them (`--jwks`), since a bundle cannot vouch for
 * its own keys. Read in pages, like the export; the chain can grow between the pages and the
 * head, and the head is read first, so the chain always reaches it.
 */
export function registerBundle(app: OpenAPIHono<AppEnv>): void {
  app.openapi(bundleRoute, (c) => sequenceBundle(c, c.req.valid("param").id, c.get("caller")));
}

/** The bundle of sequence `id` as `caller` may read it (the console's auditor downloads the same one). */
export async function sequenceBundle(c: Context<AppEnv>, id: string, caller: Caller): Promise<Response> {
  const ledger = sequenceStub(c.env.SEQUENCES, id);
  const described = await ledger.describe({ caller });
  if (described.kind !== "sequence") return answer(described);
  const receipts: string[] = [];
  let after = -1;
  for (;;) {
    const page = await ledger.receipts({ caller, after, limit: RECEIPTS_PAGE_SIZE });
    if (page.kind !== "receipts") return answer(page);
    receipts.push(...page.receipts);
    if (page.last === null || page.receipts.length < RECEIPTS_PAGE_SIZE) break;
    after = page.last;
  }
  const config = c.get("config");
  const body = described.body as { signed_head: string | null; workflow: { id: string; hash: string } };
  const compiled = config.workflows.get(body.workflow.id);
  const { rp_id, origins } = config.passkeys;
  return json({
    receipts,
    jwks: c.get("keyring").jwks,
    signed_head: body.signed_head,
    credentials: { passkeys: { rp_id, origins }, ...(await directoryStub(c.env.APPROVERS).list()) },
    ...(compiled && compiled.hash === body.workflow.hash ? { workflow: compiled.definition } : {}),
  });
}
