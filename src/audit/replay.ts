import type { CompiledWorkflow } from "../policy/compile.js";
import { decide } from "../policy/decide.js";
import { rebindRequest } from "../policy/rebind.js";
import { flipOf } from "../policy/shadow.js";
import type { Effect, LedgerRequest, Outcome } from "../policy/types.js";
import { canonicalJson } from "../tokens/digest.js";
import type { ReceiptClaims } from "../tokens/receipt.js";
import { LedgerFold } from "./ledger-fold.js";

/** One receipt whose recorded decision is not what `decide()` gives again. */
export interface Divergence {
  n: number;
  kind: ReceiptClaims["kind"];
  stage: string;
  recorded: { decision: string; code: string | null; message: string };
  replayed: { decision: string; code: string | null; message: string };
  /** What differs: the decision, the code, or only the effects. */
  what: "decision" | "code" | "effects";
  /** The condition (or check) behind the replayed outcome, when it names one. */
  condition?: string;
}

export interface ReplayResult {
  decisions: number;
  divergences: Divergence[];
}

/**
 * Folds a verified chain through the same `decide()` the Worker runs: each
 * receipt's recorded inputs and time, the state rebuilt from the receipts before
 * it. `mode: "audit"` checks the recorded decisions (the chain's own workflow
 * version must be given); `mode: "whatif"` asks what another version would have
 * decided — the recorded requests are re-bound to it (tokens name it, approvals'
 * digests are recomputed) and the new history's own effects are folded.
 */
export async function replayChain(
  receipts: readonly ReceiptClaims[],
  workflow: CompiledWorkflow,
  mode: "audit" | "whatif" = "audit",
): Promise<ReplayResult> {
  const replayer = new Replayer(workflow, mode);
  const divergences: Divergence[] = [];
  for (const receipt of receipts) {
    const divergence = await replayer.step(receipt);
    if (divergence) divergences.push(divergence);
  }
  return { decisions: receipts.length, divergences };
}

/** The same replay one receipt at a time: constant memory besides the spent-nonce set. */
export class Replayer {
  readonly #ledger: LedgerFold;

  constructor(
    private readonly workflow: CompiledWorkflow,
    private readonly mode: "audit" | "whatif" = "audit",
  ) {
    this.#ledger = new LedgerFold(workflow);
  }

  async step(receipt: ReceiptClaims): Promise<Divergence | null> {
    const { workflow, mode } = this;
    if (mode === "audit" && receipt.workflow !== workflow.hash) {
      throw new Error(`receipt ${receipt.n} is of workflow version ${receipt.workflow}, not ${workflow.hash}`);
    }
    let { request, effects: recordedEffects } = recorded(receipt);
    if (request.kind !== "start" && !this.#ledger.state) throw new Error(`receipt ${receipt.n}: the chain does not begin with its start`);
    const state = await this.#ledger.snapshot(request, receipt.seq, receipt.at);
    // An approval that matched what it approved then is taken to approve the same thing now.
    if (mode === "whatif" && request.kind !== "start") request = rebindRequest(request, workflow, { digest: state.approvalDigest });
    const outcome = decide(workflow, state, request, receipt.at);
    // An audit folds what was recorded (so one divergence does not cascade); a what-if folds its own history.
    this.#ledger.fold(state, mode === "audit" ? recordedEffects : outcome.effects);
    return compare(receipt, outcome);
  }
}

/**
 * A receipt's inputs and effects as policy's types. The receipt schema checked the
 * envelope and their tags; the rest is what the ledger handed `decide()` and signed,
 * and the replay gives it back to `decide()` as recorded.
 */
function recorded(receipt: ReceiptClaims): { request: LedgerRequest; effects: Effect[] } {
  return { request: receipt.inputs as LedgerRequest, effects: receipt.effects as Effect[] };
}

function compare(receipt: ReceiptClaims, outcome: Outcome): Divergence | null {
  // The comparison shadow mode makes too (policy/shadow.ts), then the effects.
  let what: Divergence["what"] | null = flipOf(receipt, outcome);
  if (!what && canonicalJson(receipt.effects) !== canonicalJson(outcome.effects)) what = "effects";
  if (!what) return null;
  const details = outcome.details as { condition?: unknown; limit?: unknown } | undefined;
  const recordedDetails = receipt.details as { condition?: unknown } | undefined;
  const condition = details?.condition ?? details?.limit ?? recordedDetails?.condition;
  return {
    n: receipt.n,
    kind: receipt.kind,
    stage: receipt.stage,
    recorded: { decision: receipt.decision, code: receipt.code, message: receipt.message },
    replayed: { decision: outcome.decision, code: outcome.code, message: outcome.message },
    what,
    ...(typeof condition === "string" ? { condition } : {}),
  };
}
