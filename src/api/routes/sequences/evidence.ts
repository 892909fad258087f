import type { OpenAPIHono } from "@hono/zod-openapi";
import { sequenceStub } from "../../../ledger/stub.js";
import { checkApproval } from "../../../tokens/approval.js";
import { digestJson } from "../../../tokens/digest.js";
import { requireCaller } from "../../auth.js";
import type { AppEnv } from "../../context.js";
import { authedRoute } from "../../openapi.js";
import { answer } from "../../respond.js";
import { ApprovalBody, EvidenceBody, IdempotencyHeader, SequenceIdParam } from "../../schemas.js";
import { checkSubmittedAttestation } from "./evidence-check.js";
import { passkeyApprovalCheck } from "./passkey-approval.js";
import { decisionResponse } from "./shared.js";

const evidenceRoute = authedRoute({
  method: "post",
  path: "/v1/sequences/{id}/evidence",
  summary:
    "Submit an attestation (a Baton attestation, or a workload identity token of an attester declared by OIDC issuer); when it satisfies the next gate, the answer carries the next capability",
  middleware: [requireCaller()] as const,
  request: {
    params: SequenceIdParam,
    headers: IdempotencyHeader,
    body: { required: true, content: { "application/json": { schema: EvidenceBody } } },
  },
  responses: {
    200: decisionResponse("evidence accepted"),
    202: decisionResponse("ESCALATE: the gate now waits for approvals (APPROVAL_REQUIRED)"),
    422: { description: "IDEMPOTENCY_CONFLICT" },
  },
});

const approvalRoute = authedRoute({
  method: "post",
  path: "/v1/sequences/{id}/approvals",
  summary:
    "Submit an approval (or a rejection) signed by an approver's key or made with their enrolled passkey; ESCALATE (202) while the gate waits for more, the next capability when it completes the quorum",
  middleware: [requireCaller()] as const,
  request: {
    params: SequenceIdParam,
    headers: IdempotencyHeader,
    body: { required: true, content: { "application/json": { schema: ApprovalBody } } },
  },
  responses: {
    200: decisionResponse("approval accepted; the gate opened"),
    202: decisionResponse("ESCALATE: approval accepted; the gate waits for more (APPROVAL_REQUIRED)"),
    422: { description: "IDEMPOTENCY_CONFLICT" },
  },
});

export function registerEvidence(app: OpenAPIHono<AppEnv>): void {
  app.openapi(evidenceRoute, async (c) => {
    const { id } = c.req.valid("param");
    const body = c.req.valid("json");
    const key = c.req.valid("header")["idempotency-key"];
    const ledger = sequenceStub(c.env.SEQUENCES, id);
    const attestation = await checkSubmittedAttestation(body.attestation, c.get("config"));
    return answer(
      await ledger.evidence({
        caller: c.get("caller"),
        attestation,
        idempotency: key ? { key, requestDigest: await digestJson({ op: "evidence", id, body }) } : undefined,
      }),
    );
  });
}

export function registerApprovals(app: OpenAPIHono<AppEnv>): void {
  app.openapi(approvalRoute, async (c) => {
    const { id } = c.req.valid("param");
    const body = c.req.valid("json");
    const key = c.req.valid("header")["idempotency-key"];
    const ledger = sequenceStub(c.env.SEQUENCES, id);
    const passkey = "passkey" in body ? await passkeyApprovalCheck(c, body.passkey) : null;
    const approval = passkey ? passkey.check : await checkApproval((body as { approval: string }).approval, c.get("config").approverKeys);
    const decided = await ledger.approval({
      caller: c.get("caller"),
      approval,
      idempotency: key ? { key, requestDigest: await digestJson({ op: "approval", id, body }) } : undefined,
    });
    await passkey?.afterDecision();
    return answer(decided);
  });
}
