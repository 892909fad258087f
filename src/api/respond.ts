import { BatonError } from "../errors.js";
import type { DelegationAnswer } from "../ledger/answers.js";

/** A plain JSON response. */
export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...headers },
  });
}

/** An answer the analysis plane rendered itself (its status and JSON body), sent as is. */
export function rendered(result: { status: number; body: string }): Response {
  return new Response(result.body, {
    status: result.status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
  });
}

/** The ledger's typed answer as HTTP: an idempotent retry renders the stored answer, so it is answered byte for byte alike. */
export function answer(result: DelegationAnswer): Response {
  return json(answerBody(result), answerStatus(result));
}

export function answerStatus(result: DelegationAnswer): number {
  switch (result.kind) {
    case "refused":
      return new BatonError(result.error.code, result.error.message).status;
    case "decided":
      return result.body.decision === "ESCALATE" ? 202 : result.started ? 201 : 200;
    case "delegated":
      return answerStatus(result.child);
    case "sequence":
    case "receipts":
      return 200;
  }
}

export function answerBody(result: DelegationAnswer): unknown {
  switch (result.kind) {
    case "refused": {
      const { code, message, details, receipt } = result.error;
      return new BatonError(code, message, { details, receipt }).toJSON();
    }
    case "decided":
    case "sequence":
      return result.body;
    case "delegated":
      return { ...(answerBody(result.child) as Record<string, unknown>), parent: result.parent };
    case "receipts":
      return { receipts: result.receipts, last: result.last };
  }
}
