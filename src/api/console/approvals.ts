import { type OpenAPIHono, z } from "@hono/zod-openapi";
import { BatonError } from "../../errors.js";
import { sequenceStub } from "../../ledger/stub.js";
import { PasskeyApprovalSchema } from "../../tokens/passkey.js";
import type { AppEnv } from "../context.js";
import { STANDARD_ERRORS, documentedRoute } from "../openapi.js";
import { answer } from "../respond.js";
import { passkeyApprovalCheck } from "../routes/sequences/passkey-approval.js";
import { SequenceIdParam } from "../schemas.js";
import { decisionResponse } from "../routes/sequences/shared.js";
import { mutatingSession } from "./session.js";

const approvalRoute = documentedRoute({
  method: "post",
  path: "/console/api/sequences/{id}/approvals",
  summary:
    "The console's approval: a passkey approval made in the signed-in approver's browser, taken exactly like POST /v1/sequences/{id}/approvals (session cookie and x-baton-csrf, no API key)",
  request: {
    params: SequenceIdParam,
    body: { required: true, content: { "application/json": { schema: z.object({ passkey: PasskeyApprovalSchema }).strict() } } },
  },
  responses: {
    200: decisionResponse("approval accepted; the gate opened"),
    202: decisionResponse("ESCALATE: approval accepted; the gate waits for more (APPROVAL_REQUIRED)"),
    ...STANDARD_ERRORS,
    415: { description: "UNSUPPORTED_MEDIA_TYPE" },
  },
});

export function registerConsoleApprovals(app: OpenAPIHono<AppEnv>): void {
  app.openapi(approvalRoute, async (c) => {
    const session = await mutatingSession(c);
    if (session.role !== "approver") throw new BatonError("FORBIDDEN", `role ${session.role} does not approve`);
    const { id } = c.req.valid("param");
    const { passkey } = c.req.valid("json");
    // The session names who is at the keyboard; the assertion names who signed. They are one
    // person, or the console would relay another approver's signature under this session.
    if (passkey.claims.iss !== session.principal) {
      throw new BatonError("FORBIDDEN", `signed in as ${session.principal}; an approval by ${passkey.claims.iss} is theirs to submit`);
    }
    // The API's passkey path: the same credential lookup, assertion check and ledger call, so
    // the receipt is the one an API client's passkey approval gets.
    const checked = await passkeyApprovalCheck(c, passkey);
    const decided = await sequenceStub(c.env.SEQUENCES, id).approval({
      caller: { id: session.principal, role: "approver" },
      approval: checked.check,
      idempotency: undefined,
    });
    await checked.afterDecision();
    return answer(decided);
  });
}
