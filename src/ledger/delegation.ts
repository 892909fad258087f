import { BatonError } from "../errors.js";
import { type CompiledWorkflow, WorkflowCompileError, compileWorkflow } from "../policy/compile.js";
import type { Act, DelegatedGrant } from "../policy/types.js";
import { verifyCapabilitySignature } from "../tokens/capability.js";
import { canonicalJson } from "../tokens/digest.js";
import { checkDpopProof } from "../tokens/dpop.js";
import type { Keyring } from "../tokens/keys.js";
import { receiptHash } from "../tokens/receipt.js";
import { actorThumbprint } from "./actor-key.js";
import type { DelegationAnswer } from "./answers.js";
import type { Caller } from "./protocol.js";
import { ledgerAt, sequenceStub } from "./stub.js";

/** A delegation as the API received it: the delegating capability and what it asks for a sub-agent. */
export interface DelegationRequest {
  caller: Caller;
  /** The parent sequence's id, as named in the path. */
  parent: string;
  token: string;
  /** A DPoP proof for this very request to Baton: its method and URL. */
  dpop?: { proof: string; htm: string; htu: string } | undefined;
  actor: string;
  grants: DelegatedGrant[];
  ttlSeconds?: number | undefined;
  actorJwk?: unknown;
}

/** What the parent's `decide()` allowed, receipted in its details: everything the child needs. */
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

/**
 * Delegation spans two objects: the parent decides (and receipts) what it gives
 * away, then a child sequence starts under a one-stage workflow of exactly that.
 * The child is named after the parent's receipt, so a retry reaches the same child.
 */
export async function delegate(
  namespace: Env["SEQUENCES"],
  deployment: { keyring: Keyring; issuer: string },
  request: DelegationRequest,
): Promise<DelegationAnswer> {
  const check = await verifyCapabilitySignature(request.token, deployment.keyring, deployment.issuer);
  if (!check.ok) throw new BatonError("TOKEN_INVALID", check.message);
  const actorJkt = request.actorJwk === undefined ? undefined : await actorThumbprint(request.actorJwk);
  if (check.claims.cnf && !actorJkt) {
    throw new BatonError("INVALID_REQUEST", "the delegating capability is sender-constrained: actor_jwk (the sub-agent's key) is required");
  }
  // Refuse a child that could not compile before the parent spends anything.
  await childWorkflow(request.grants, { stage: check.claims.stage, ttl: 1, skew: 0, depth: 1, bound: false });

  const { dpop } = request;
  const parent = await sequenceStub(namespace, request.parent).delegate({
    caller: request.caller,
    token: check.claims,
    tokenDigest: check.digest,
    dpop: dpop && { proof: await checkDpopProof(dpop.proof), htm: dpop.htm, htu: dpop.htu },
    actor: request.actor,
    grants: request.grants,
  });
  // Anything but the allowing decision (a refusal, with or without its receipt) is the answer.
  if (parent.kind !== "decided" || parent.body.decision === "ESCALATE" || parent.body.receipt === null) return parent;
  const { receipt, details } = parent.body;
  // The parent's own decide() wrote the plan into its details (policy/decide.ts, delegate).
  const plan = (details as { delegation: DelegationPlan }).delegation;
  const parentReceipt = await receiptHash(receipt);
  const ttl = Math.max(1, Math.min(request.ttlSeconds ?? 3600, plan.until - Math.floor(Date.now() / 1000)));
  const child = await childWorkflow(plan.grants, {
    stage: plan.stage,
    ttl,
    skew: plan.parent.clock_skew_seconds,
    depth: plan.parent.max_delegation_depth,
    bound: actorJkt !== undefined,
  });
  // One child per allowed delegation: its id is named after the receipt that allowed it.
  const started = await ledgerAt(namespace, namespace.idFromName(`delegation\u0000${parentReceipt}`)).start({
    caller: request.caller,
    workflow: { id: child.id, hash: child.hash, definition: canonicalJson(child.definition) },
    params: plan.parent.params,
    subject: plan.parent.subject,
    actor: plan.actor,
    actorJkt,
    orchestrator: plan.parent.orchestrator,
    delegation: { parent: request.parent, parentReceipt, act: plan.act, until: plan.until },
  });
  return { kind: "delegated", child: started, parent: { sequence: request.parent, receipt } };
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
