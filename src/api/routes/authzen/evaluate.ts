import type { z } from "@hono/zod-openapi";
import { BatonError } from "../../../errors.js";
import type { LedgerAnswer } from "../../../ledger/answers.js";
import { type Decision, type Evaluation, EvaluationRequest, type Evaluations, type EvaluationsSemantic } from "./schemas.js";

// The pure half of the AuthZEN decision point: defaults, batch semantics, and how the gate's
// answer reads as an AuthZEN decision. The routes (index.ts) feed it the gate.

/**
 * The gate's answer as a Decision (§5.5). A permit is the redeem's ALLOW; everything else is
 * `decision: false` with Baton's reason code and the receipt in `context` — a deny is a 200,
 * only a failure of the whole request is an HTTP error (§10.1.2).
 */
export function decisionOf(answer: LedgerAnswer): Decision {
  switch (answer.kind) {
    case "refused": {
      const { code, message, receipt, details } = answer.error;
      return { decision: false, context: { code, reason: message, receipt, ...(details === undefined ? {} : { details }) } };
    }
    case "decided": {
      const { decision, code, message, sequence, sealed, receipt, details } = answer.body;
      const extra = details === undefined ? {} : { details };
      if (decision === "ALLOW") return { decision: true, context: { reason: message, sequence, sealed, receipt, ...extra } };
      // The gate never escalates a redeem; were it to, waiting is not permission.
      return { decision: false, context: { code: code ?? "APPROVAL_REQUIRED", reason: message, receipt, ...extra } };
    }
    case "sequence":
    case "receipts":
      throw new Error(`the gate answered ${answer.kind}, not a decision`);
  }
}

/**
 * The evaluations of a boxcar (§7.1): each entry's subject, action, resource and context,
 * taken from the entry or else from the top level — a member replaces the default whole,
 * never merges into it. All of them are checked before any is evaluated, so a request with one
 * bad entry is refused whole and spends nothing. No entries: the top level is the one evaluation.
 */
export function evaluationsOf(request: Evaluations): { batch: boolean; evaluations: Evaluation[] } {
  const { evaluations: entries = [], options: _options, ...defaults } = request;
  const batch = entries.length > 0;
  const issues: z.core.$ZodIssue[] = [];
  const evaluations: Evaluation[] = [];
  (batch ? entries : [{}]).forEach((entry, i) => {
    const merged = {
      subject: entry.subject ?? defaults.subject,
      action: entry.action ?? defaults.action,
      resource: entry.resource ?? defaults.resource,
      context: entry.context ?? defaults.context,
    };
    const parsed = EvaluationRequest.safeParse(merged);
    if (parsed.success) evaluations.push(parsed.data);
    else {
      const at = batch ? ["evaluations", i] : [];
      for (const issue of parsed.error.issues) {
        const message = batch ? `${issue.message} (in the entry, or as the top-level default)` : issue.message;
        issues.push({ ...issue, path: [...at, ...issue.path], message });
      }
    }
  });
  if (issues.length > 0) throw new BatonError("INVALID_REQUEST", "an evaluation lacks a member the specification requires", { details: issues });
  return { batch, evaluations };
}

/**
 * §7.1.2.1 evaluation semantics. One evaluation after another, in the request's order: each
 * sees the uses the earlier ones spent, and a short circuit (the first deny for `&&`, the first
 * permit for `||`) leaves the rest unexecuted — not evaluated, not receipted, nothing spent,
 * and not in the answer, which is as long as what was evaluated.
 */
export async function runEvaluations<T>(
  evaluations: readonly T[],
  semantic: EvaluationsSemantic,
  evaluate: (evaluation: T) => Promise<Decision>,
): Promise<Decision[]> {
  const decisions: Decision[] = [];
  for (const evaluation of evaluations) {
    const decided = await evaluate(evaluation);
    decisions.push(decided);
    if (semantic === "deny_on_first_deny" && !decided.decision) break;
    if (semantic === "permit_on_first_permit" && decided.decision) break;
  }
  return decisions;
}
