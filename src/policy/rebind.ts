import type { CompiledWorkflow } from "./compile.js";
import type { LedgerRequest } from "./types.js";

/**
 * A request as it was made, re-bound to another version of its workflow, so that the
 * question put to that version is its policy, not the binding of the tokens: a
 * capability names the version it was minted under, and an approval the digest of what
 * the gate asked under it (which names the version too). Used by the auditor's what-if
 * and by shadow mode, whose candidate must see the very request the real version saw.
 *
 * `approval.digest` is what the other version's gate asks approvers to approve (null when
 * it takes none); `approval.matched`, when given, is what the request's own version asked:
 * only an approval of exactly that is taken to approve the same thing under the other.
 */
export function rebindRequest(
  request: LedgerRequest,
  workflow: CompiledWorkflow,
  approval: { digest: string | null; matched?: string | null },
): LedgerRequest {
  switch (request.kind) {
    case "redeem":
    case "delegate":
      return { ...request, token: { ...request.token, workflow: workflow.hash } };
    case "approval": {
      const check = request.approval;
      if (!check.ok || approval.digest === null) return request;
      if (approval.matched !== undefined && check.claims.digest !== approval.matched) return request;
      return { ...request, approval: { ...check, claims: { ...check.claims, digest: approval.digest } } };
    }
    default:
      return request;
  }
}
