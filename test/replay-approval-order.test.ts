import { decodeJwt } from "jose";
import { describe, expect, it } from "vitest";
import quorumThree from "./fixtures/workflows/quorum-three.json";
import { replayChain } from "../src/audit/replay.js";
import { verifyReceiptChain } from "../src/audit/verify-chain.js";
import { withApprovalDigest } from "../src/policy/approval-subject.js";
import { compileWorkflow } from "../src/policy/compile.js";
import { decide } from "../src/policy/decide.js";
import { applyEffects, initialState, nonceKey } from "../src/policy/fold.js";
import type { Effect, LedgerRequest, LedgerState } from "../src/policy/types.js";
import { digestJson } from "../src/tokens/digest.js";
import { KEY, api, approve, jwksLookup, receipts } from "./helpers.js";

/**
 * The state the auditor's replay folds before each receipt, and what `decide()`
 * mints from it: the chain's own inputs, folded the way src/audit/replay.ts does.
 */
async function replayedMint(chain: Awaited<ReturnType<typeof verifyReceiptChain>> & { ok: true }) {
  const workflow = await compileWorkflow(quorumThree);
  const spent = new Set<string>();
  let state: LedgerState | null = null;
  let mint = null;
  for (const receipt of chain.receipts) {
    // As the replay does: the recorded inputs and effects are policy's request and effects.
    const request = receipt.inputs as LedgerRequest;
    const effects = receipt.effects as Effect[];
    if (request.kind === "start") {
      const record = {
        seq: receipt.seq,
        workflowId: workflow.id,
        workflow: workflow.hash,
        params: request.params,
        subject: request.subject,
        actor: request.actor,
        orchestrator: request.orchestrator,
        createdAt: receipt.at,
      };
      state = initialState(record, (kind, jti) => spent.has(nonceKey(kind, jti)));
    }
    if (!state) throw new Error("the chain does not begin with its start");
    const before: LedgerState = await withApprovalDigest(workflow, state);
    mint = decide(workflow, before, request, receipt.at).mint;
    state = { ...applyEffects(before, effects, spent), nonceUsed: before.nonceUsed };
  }
  return mint;
}

describe("the replay folds approvals in the order the live ledger reads them", () => {
  it("a 3-approval gate whose approvers arrive out of alphabetical order: the replay mints the capability's evidence as the ledger did", async () => {
    const started = await api("POST", "/v1/sequences", {
      key: KEY.orchestrator,
      body: { workflow: "quorum-three", params: { ticket: "T-6" }, subject: "user:alice", actor: "agent-7" },
    });
    expect(started.status).toBe(201);
    const seq = started.body.sequence as string;
    expect((await approve(seq, "q03")).status).toBe(202);
    expect((await approve(seq, "q01")).status).toBe(202);
    const opened = await approve(seq, "q02");
    expect(opened.body).toMatchObject({ decision: "ALLOW", stage: "ship" });
    const capability = decodeJwt(opened.body.capability) as { evidence: { digest: string; items: { iss: string }[] } };
    // The live ledger reads the approvals before the last one by approver, then decide() adds the last.
    expect(capability.evidence.items.map((i) => i.iss)).toEqual(["q01", "q03", "q02"]);

    const chain = await verifyReceiptChain(await receipts(seq), await jwksLookup());
    if (!chain.ok) throw new Error(chain.reason);
    const workflow = await compileWorkflow(quorumThree);
    expect(await replayChain(chain.receipts, workflow)).toEqual({ decisions: chain.receipts.length, divergences: [] });

    // `baton audit` replays every decision; the last one's mint must name the same evidence, in the same order.
    const mint = await replayedMint(chain);
    expect(mint?.evidence.map((e) => e.iss)).toEqual(["q01", "q03", "q02"]);
    expect(await digestJson(mint?.evidence)).toBe(capability.evidence.digest);
  });
});
