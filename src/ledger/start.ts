import type { LedgerRequest, SequenceRecord } from "../policy/types.js";
import type { z } from "zod";
import type { StartInputSchema } from "./protocol.js";

/**
 * A new sequence's record and the `start` request `decide()` judges, from a parsed start
 * call. The orchestrator is the caller unless the route named another (a delegation's child).
 */
export function newSequence(seq: string, input: z.output<typeof StartInputSchema>, now: number): { record: SequenceRecord; request: LedgerRequest } {
  const { params, subject, actor, actorJkt, delegation } = input;
  const record: SequenceRecord = {
    seq,
    workflowId: input.workflow.id,
    workflow: input.workflow.hash,
    params,
    subject,
    actor,
    orchestrator: input.orchestrator ?? input.caller.id,
    createdAt: now,
    ...(actorJkt ? { actorJkt } : {}),
    ...(delegation ? { delegation } : {}),
  };
  const request: LedgerRequest = {
    kind: "start",
    params,
    subject,
    actor,
    orchestrator: record.orchestrator,
    ...(record.actorJkt ? { actorJkt: record.actorJkt } : {}),
    ...(record.delegation ? { delegation: record.delegation } : {}),
    fresh: { jti: crypto.randomUUID() },
  };
  return { record, request };
}
