import { type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { BatonError } from "../../errors.js";
import { RECEIPTS_PAGE_SIZE } from "../../limits.js";
import type { LedgerAnswer } from "../../ledger/protocol.js";
import { canonicalJson } from "../../tokens/digest.js";
import { calculateJwkThumbprint, importJWK } from "jose";
import { checkApproval } from "../../tokens/approval.js";
import { checkAttestation } from "../../tokens/attestation.js";
import { digestJson } from "../../tokens/digest.js";
import { requireCaller } from "../auth.js";
import type { AppEnv } from "../context.js";
import { authedRoute } from "../openapi.js";
import { answer } from "../respond.js";
import { PublicJwkSchema } from "../../config/schema.js";
import { type CompiledWorkflow, WorkflowCompileError, compileWorkflow } from "../../policy/compile.js";
import type { Act, DelegatedGrant } from "../../policy/types.js";
import { verifyCapabilitySignature } from "../../tokens/capability.js";
import { checkDpopProof } from "../../tokens/dpop.js";
import { receiptHash } from "../../tokens/receipt.js";
import {
  ApprovalBody,
  DecisionSchema,
  DelegateBody,
  DpopHeader,
  EvidenceBody,
  IdempotencyHeader,
  ReceiptsQuery,
  RevokeBody,
  SequenceIdParam,
  SequenceSchema,
  StartSequenceBody,
} from "../schemas.js";

const decisionResponse = (description: string) => ({
  description,
  content: { "application/json": { schema: DecisionSchema } },
});

const startRoute = authedRoute({
  method: "post",
  path: "/v1/sequences",
  summary: "Start a sequence of a workflow (orchestrator); returns the first stage's capability",
  middleware: [requireCaller("orchestrator")] as const,
  request: {
    headers: IdempotencyHeader,
    body: { required: true, content: { "application/json": { schema: StartSequenceBody } } },
  },
  responses: { 201: decisionResponse("sequence started"), 422: { description: "IDEMPOTENCY_CONFLICT" } },
});

const getRoute = authedRoute({
  method: "get",
  path: "/v1/sequences/{id}",
  summary: "A sequence's state: current stage, status, what the next gate waits for, head receipt",
  middleware: [requireCaller()] as const,
  request: { params: SequenceIdParam },
  responses: { 200: { description: "sequence", content: { "application/json": { schema: SequenceSchema } } } },
});

const evidenceRoute = authedRoute({
  method: "post",
  path: "/v1/sequences/{id}/evidence",
  summary: "Submit an attestation; when it satisfies the next gate, the answer carries the next capability",
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
    "Submit an approval (or a rejection) signed by an approver's key; ESCALATE (202) while the gate waits for more, the next capability when it completes the quorum",
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

const delegateRoute = authedRoute({
  method: "post",
  path: "/v1/sequences/{id}/delegations",
  summary:
    "Start a sequence for a sub-agent (the actor, presenting its capability): its grants are a subset of the current stage, its act nests the delegating agent's",
  middleware: [requireCaller("agent")] as const,
  request: {
    params: SequenceIdParam,
    headers: DpopHeader,
    body: { required: true, content: { "application/json": { schema: DelegateBody } } },
  },
  responses: { 201: decisionResponse("the child sequence and its first capability") },
});

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

export function registerSequences(app: OpenAPIHono<AppEnv>): void {
  app.openapi(startRoute, async (c) => {
    const body = c.req.valid("json");
    const caller = c.get("caller");
    const workflow = c.get("config").workflows.get(body.workflow);
    if (!workflow) throw new BatonError("UNKNOWN_WORKFLOW", `no workflow ${body.workflow}`);
    const allowed = c.get("config").clients.find((client) => client.id === caller.id)?.workflows ?? [];
    if (!allowed.includes("*") && !allowed.includes(workflow.id)) {
      throw new BatonError("FORBIDDEN", `orchestrator ${caller.id} may not start ${workflow.id}`);
    }
    const params = workflow.params.safeParse(body.params);
    if (!params.success) {
      throw new BatonError("INVALID_REQUEST", "params do not match the workflow's parameter schema", {
        details: params.error.issues,
      });
    }
    const actorJkt = body.actor_jwk === undefined ? undefined : await actorThumbprint(body.actor_jwk);
    if (workflow.definition.sender_constrained && !actorJkt) {
      throw new BatonError("INVALID_REQUEST", `workflow ${workflow.id} is sender-constrained: actor_jwk (the agent's public key) is required`);
    }
    const key = c.req.valid("header")["idempotency-key"];
    const namespace = c.env.SEQUENCES;
    // An idempotent start names its object after the caller and key, so a retry
    // reaches the same sequence; otherwise the id is random. Either way Baton mints it.
    const id = key ? namespace.idFromName(`start\u0000${caller.id}\u0000${key}`) : namespace.newUniqueId();
    return answer(
      await namespace.get(id).start({
        caller,
        workflow: { id: workflow.id, hash: workflow.hash, definition: canonicalJson(workflow.definition) },
        params: params.data as Record<string, unknown>,
        subject: body.subject,
        actor: body.actor,
        actorJkt,
        idempotency: key ? { key, requestDigest: await digestJson({ op: "start", body }) } : undefined,
      }),
    );
  });

  app.openapi(getRoute, async (c) => {
    const ledger = sequenceStub(c, c.req.valid("param").id);
    return answer(await ledger.describe({ caller: c.get("caller") }));
  });

  app.openapi(evidenceRoute, async (c) => {
    const { id } = c.req.valid("param");
    const body = c.req.valid("json");
    const key = c.req.valid("header")["idempotency-key"];
    const ledger = sequenceStub(c, id);
    const attestation = await checkAttestation(body.attestation, c.get("config").attesterKeys);
    return answer(
      await ledger.evidence({
        caller: c.get("caller"),
        attestation,
        idempotency: key ? { key, requestDigest: await digestJson({ op: "evidence", id, body }) } : undefined,
      }),
    );
  });

  app.openapi(approvalRoute, async (c) => {
    const { id } = c.req.valid("param");
    const body = c.req.valid("json");
    const key = c.req.valid("header")["idempotency-key"];
    const ledger = sequenceStub(c, id);
    const approval = await checkApproval(body.approval, c.get("config").approverKeys);
    return answer(
      await ledger.approval({
        caller: c.get("caller"),
        approval,
        idempotency: key ? { key, requestDigest: await digestJson({ op: "approval", id, body }) } : undefined,
      }),
    );
  });

  app.openapi(delegateRoute, async (c) => {
    const { id } = c.req.valid("param");
    const body = c.req.valid("json");
    const config = c.get("config");
    const check = await verifyCapabilitySignature(body.token, c.get("keyring"), config.issuer);
    if (!check.ok) throw new BatonError("TOKEN_INVALID", check.message);
    const actorJkt = body.actor_jwk === undefined ? undefined : await actorThumbprint(body.actor_jwk);
    if (check.claims.cnf && !actorJkt) {
      throw new BatonError("INVALID_REQUEST", "the delegating capability is sender-constrained: actor_jwk (the sub-agent's key) is required");
    }
    // Refuse a child that could not compile before the parent spends anything.
    await childWorkflow(body.grants, { stage: check.claims.stage, ttl: 1, skew: 0, depth: 1, bound: false });

    const dpopProof = c.req.valid("header").dpop;
    const parent = await sequenceStub(c, id).delegate({
      caller: c.get("caller"),
      token: check.claims,
      tokenDigest: check.digest,
      // A proof for this very request to Baton: its method and URL.
      dpop: dpopProof === undefined ? undefined : { proof: await checkDpopProof(dpopProof), htm: c.req.method, htu: c.req.url },
      actor: body.actor,
      grants: body.grants,
    });
    if (parent.status !== 200) return answer(parent);

    const allowed = JSON.parse(parent.body) as { receipt: string; details: { delegation: DelegationPlan } };
    const plan = allowed.details.delegation;
    const parentReceipt = await receiptHash(allowed.receipt);
    const ttl = Math.max(1, Math.min(body.ttl_seconds ?? 3600, plan.until - Math.floor(Date.now() / 1000)));
    const child = await childWorkflow(plan.grants, {
      stage: plan.stage,
      ttl,
      skew: plan.parent.clock_skew_seconds,
      depth: plan.parent.max_delegation_depth,
      bound: actorJkt !== undefined,
    });
    const namespace = c.env.SEQUENCES;
    // One child per allowed delegation: its id is named after the receipt that allowed it.
    const started = await namespace.get(namespace.idFromName(`delegation\u0000${parentReceipt}`)).start({
      caller: c.get("caller"),
      workflow: { id: child.id, hash: child.hash, definition: canonicalJson(child.definition) },
      params: plan.parent.params,
      subject: plan.parent.subject,
      actor: plan.actor,
      actorJkt,
      orchestrator: plan.parent.orchestrator,
      delegation: { parent: id, parentReceipt, act: plan.act as unknown as Record<string, unknown>, until: plan.until },
    });
    const childBody = JSON.parse(started.body) as Record<string, unknown>;
    return c.json({ ...childBody, parent: { sequence: id, receipt: allowed.receipt } }, started.status as 201);
  });

  app.openapi(capabilityRoute, async (c) => {
    const { id } = c.req.valid("param");
    const key = c.req.valid("header")["idempotency-key"];
    const ledger = sequenceStub(c, id);
    return answer(
      await ledger.capability({
        caller: c.get("caller"),
        idempotency: key ? { key, requestDigest: await digestJson({ op: "capability", id }) } : undefined,
      }),
    );
  });

  app.openapi(revokeRoute, async (c) => {
    const ledger = sequenceStub(c, c.req.valid("param").id);
    const reason = (await optionalJson(c, RevokeBody)).reason;
    return answer(await ledger.revoke({ caller: c.get("caller"), reason }));
  });

  app.openapi(receiptsRoute, async (c) => {
    const ledger = sequenceStub(c, c.req.valid("param").id);
    const caller = c.get("caller");
    const first = await ledger.receipts({ caller, after: c.req.valid("query").after, limit: RECEIPTS_PAGE_SIZE });
    if (first.status !== 200) return answer(first);
    // Page through the ledger while streaming, so no chain is ever held whole in memory.
    const encoder = new TextEncoder();
    const stream = new ReadableStream<Uint8Array>({
      async start(controller) {
        let page: LedgerAnswer = first;
        for (;;) {
          const { receipts, last } = JSON.parse(page.body) as { receipts: string[]; last: number | null };
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

function sequenceStub(c: Context<AppEnv>, id: string) {
  const namespace = c.env.SEQUENCES;
  let objectId: DurableObjectId;
  try {
    // Refuses ids this namespace did not mint, so guessing ids creates nothing.
    objectId = namespace.idFromString(id);
  } catch {
    throw new BatonError("UNKNOWN_SEQUENCE", "no such sequence");
  }
  return namespace.get(objectId);
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

/** RFC 7638 thumbprint of the actor's public key; a private or unusable key is refused. */
async function actorThumbprint(raw: unknown): Promise<string> {
  const parsed = PublicJwkSchema.safeParse(raw);
  if (!parsed.success) {
    throw new BatonError("INVALID_REQUEST", "actor_jwk must be a public Ed25519 or P-256 JWK with kid and alg", {
      details: parsed.error.issues,
    });
  }
  try {
    await importJWK(parsed.data, parsed.data.alg);
  } catch (error) {
    throw new BatonError("INVALID_REQUEST", `actor_jwk is unusable: ${(error as Error).message}`);
  }
  return calculateJwkThumbprint(parsed.data, "sha256");
}

interface DelegationPlan {
  actor: string;
  act: Act;
  grants: DelegatedGrant[];
  stage: string;
  until: number;
  parent: {
    subject: string;
    orchestrator: string;
    params: Record<string, unknown>;
    clock_skew_seconds: number;
    max_delegation_depth: number;
  };
}

/** The one-stage workflow a sub-agent runs under: exactly the delegated grants, never re-issued. */
async function childWorkflow(
  grants: DelegatedGrant[],
  options: { stage: string; ttl: number; skew: number; depth: number; bound: boolean },
): Promise<CompiledWorkflow> {
  try {
    return await compileWorkflow({
      id: "delegated",
      description: "a sub-agent's share of its parent's stage",
      params: { type: "object" },
      stages: [{ id: options.stage, grants, ttl_seconds: options.ttl, max_reissues: 0 }],
      complete: { on: "last_use" },
      clock_skew_seconds: options.skew,
      max_delegation_depth: options.depth,
      sender_constrained: options.bound,
    });
  } catch (error) {
    if (!(error instanceof WorkflowCompileError)) throw error;
    throw new BatonError("INVALID_REQUEST", "the delegated grants are invalid", { details: error.issues });
  }
}
