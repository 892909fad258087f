import { decodeJwt } from "jose";
import { describe, expect, it } from "vitest";
import { KEY, claimsOf, describe_, ledgerState, redeem, reportOutcome, start } from "./helpers.js";

describe("outcome reports", () => {
  it("a failure is receipted but opens nothing; a success of the required action opens the next stage", async () => {
    const { seq, capability } = await start("outcome-gated");
    const first = await redeem(KEY.db, capability, "db.migrate");
    const failed = await reportOutcome(KEY.db, first.body.receipt, "failed", "lock timeout");
    expect(failed.body).toMatchObject({ decision: "ALLOW", message: expect.stringMatching(/failed; recorded/) });
    expect(claimsOf(failed.body.receipt)).toMatchObject({ kind: "outcome", inputs: { outcome: "failed", detail: "lock timeout" } });
    expect((await describe_(seq)).body.next_gate.outcomes).toEqual([{ tool: "db", action: "db.migrate", succeeded: false }]);

    const second = await redeem(KEY.db, capability, "db.migrate");
    const succeeded = await reportOutcome(KEY.db, second.body.receipt, "succeeded");
    expect(succeeded.body).toMatchObject({ decision: "ALLOW", stage: "deploy" });
    const next = decodeJwt(succeeded.body.capability) as Record<string, any>;
    expect(next.evidence.items).toEqual([{ iss: "db", type: "outcome:db.migrate", jti: claimsOf(succeeded.body.receipt).nonce }]);
  });

  it("once per receipt, only by the tool that redeemed, only Baton's own ALLOW receipts", async () => {
    const { seq, capability } = await start("outcome-gated");
    const allowed = await redeem(KEY.db, capability, "db.migrate");
    const before = await ledgerState(seq);
    expect((await reportOutcome(KEY.deployer, allowed.body.receipt, "succeeded")).body.error.code).toBe("FORBIDDEN");
    const [h, p, s] = (allowed.body.receipt as string).split(".") as [string, string, string];
    const tampered = `${h}.${p}.${s.startsWith("A") ? "B" : "A"}${s.slice(1)}`;
    expect((await reportOutcome(KEY.db, tampered, "succeeded")).body.error.code).toBe("EVIDENCE_INVALID");
    const denied = await redeem(KEY.db, capability, "db.drop");
    expect((await reportOutcome(KEY.db, denied.body.error.receipt, "succeeded")).body.error.code).toBe("EVIDENCE_INVALID");
    expect(await ledgerState(seq)).toEqual(before);
    expect((await reportOutcome(KEY.db, allowed.body.receipt, "unknown")).status).toBe(200);
    expect((await reportOutcome(KEY.db, allowed.body.receipt, "succeeded")).body.error.code).toBe("REPLAY_NONCE");
  });
});
