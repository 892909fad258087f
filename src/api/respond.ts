import type { LedgerAnswer } from "../ledger/protocol.js";

/** A plain JSON response; routes answer with the ledger's status and body unchanged. */
export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...headers },
  });
}

export function answer(result: LedgerAnswer): Response {
  return new Response(result.body, {
    status: result.status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
  });
}
