import type { CompiledWorkflow } from "../policy/compile.js";
import type { ConsultedSignal, LedgerRequest, SequenceRecord } from "../policy/types.js";
import { declaredSignals } from "../policy/workflow-schema.js";

/** The decisions a declared signal can bear on: a grant's use, and a gate's opening. */
const SIGNAL_CONSULTING = new Set<LedgerRequest["kind"]>(["redeem", "evidence", "approval", "outcome"]);

type ConsultingRequest = Extract<LedgerRequest, { kind: "redeem" | "evidence" | "approval" | "outcome" }>;

/**
 * The request with the signals it is decided on. Signals are inputs only where the
 * workflow declares them: then the active signals of those detectors, for the
 * sequence's actor and subject, are fetched and recorded with the request.
 */
export async function withSignals(
  analysts: Env["ANALYSTS"],
  compiled: CompiledWorkflow,
  record: SequenceRecord,
  request: LedgerRequest,
): Promise<LedgerRequest> {
  const declared = declaredSignals(compiled.definition);
  if (declared.length === 0 || !consultsSignals(request)) return request;
  const lists = await Promise.all(
    [`actor:${record.actor}`, `subject:${record.subject}`].map((scope) =>
      analysts.get(analysts.idFromName(scope)).active({ scope, detectors: declared }),
    ),
  );
  const signals: ConsultedSignal[] = lists.flat().sort((a, b) => a.id.localeCompare(b.id));
  return { ...request, signals };
}

function consultsSignals(request: LedgerRequest): request is ConsultingRequest {
  return SIGNAL_CONSULTING.has(request.kind);
}
