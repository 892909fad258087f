import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import expenseCheckerKey from "../examples/keys/expense-checker.private.jwk.json";
import monitorKey from "../examples/keys/monitor.private.jwk.json";
import { BatonClientError, createClient } from "../src/client/index.js";
import { KEY, PARAMS } from "./helpers.js";

const fetchWorker: typeof fetch = (input, init) => exports.default.fetch(new Request(input as RequestInfo, init));
const client = (apiKey: string) => createClient({ baseUrl: "https://baton.test", apiKey, fetch: fetchWorker });

describe("typed client", () => {
  it("runs a deployment: start, redeem, attest, rollout, receipts; a refusal throws with its code and receipt", async () => {
    const started = await client(KEY.orchestrator).orchestrator.start(
      { workflow: "deployment", params: PARAMS.deployment, subject: "user:alice", actor: "agent-7" },
      { idempotencyKey: crypto.randomUUID() },
    );
    const seq = started.sequence;
    const deployer = client(KEY.deployer).tool;
    const canary = { ...PARAMS.deployment, percent: 5 };
    expect((await deployer.redeem({ token: started.capability ?? "", action: "deploy.canary", args: canary })).decision).toBe("ALLOW");
    const refused = await deployer.redeem({ token: started.capability ?? "", action: "deploy.canary", args: canary }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(BatonClientError);
    expect(refused).toMatchObject({ code: "REPLAY_NONCE", status: 409, receipt: expect.stringMatching(/^ey/) });

    const { "//": _comment, ...privateJwk } = monitorKey;
    const monitor = client(KEY.attester).attester;
    const attestation = await monitor.signAttestation({ privateJwk, attester: "monitor", seq, stage: "canary", type: "canary_passed", facts: { ...PARAMS.deployment, error_rate: 0 } });
    const advanced = await monitor.submit(seq, attestation);
    expect(advanced).toMatchObject({ decision: "ALLOW", stage: "rollout" });
    expect((await deployer.redeem({ token: advanced.capability ?? "", action: "deploy.rollout", args: PARAMS.deployment })).sealed).toBe(true);

    const auditor = client(KEY.auditor).auditor;
    expect(await auditor.receipts(seq)).toHaveLength(5);
    expect(await auditor.status(seq)).toMatchObject({ status: "sealed" });
    expect((await client(KEY.auditor).jwks()).keys.length).toBeGreaterThan(0);
  });

  it("answers 202 ESCALATE as a decision, not an error; after a revoke, refusals carry SEALED_SEQUENCE", async () => {
    const orchestrator = client(KEY.orchestrator).orchestrator;
    const { sequence: seq } = await orchestrator.start({ workflow: "reimbursement", params: PARAMS.reimbursement, subject: "user:alice", actor: "agent-7" });
    const { "//": _comment, ...privateJwk } = expenseCheckerKey;
    const checker = client(KEY.attester).attester;
    const summary = await checker.signAttestation({ privateJwk, attester: "expense-checker", seq, stage: "gather", type: "summary_complete", facts: { report: "R-2026-117", total: 500 } });
    expect(await checker.submit(seq, summary)).toMatchObject({ decision: "ESCALATE", code: "APPROVAL_REQUIRED", details: { remaining: 1 } });

    expect(await orchestrator.revoke(seq, "report withdrawn")).toMatchObject({ decision: "ALLOW", sealed: true });
    const refused = await client(KEY.agent)
      .agent.capability(seq)
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(BatonClientError);
    expect(refused).toMatchObject({ code: "SEALED_SEQUENCE", status: 409 });
    const unauthenticated = await createClient({ baseUrl: "https://baton.test", apiKey: "nobody", fetch: fetchWorker })
      .auditor.status(seq)
      .catch((e: unknown) => e);
    expect(unauthenticated).toMatchObject({ code: "UNAUTHENTICATED", status: 401 });
  });
});
