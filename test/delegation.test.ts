import { decodeJwt } from "jose";
import { describe, expect, it } from "vitest";
import { KEY, api, attest, claimsOf, describe_, ledgerState, receipts, redeem, start, submitEvidence } from "./helpers.js";

function delegate(seq: string, token: string, body: Record<string, unknown>, key: string = KEY.agent) {
  return api("POST", `/v1/sequences/${seq}/delegations`, { key, body: { token, ...body } });
}

const readOnly = [{ audience: "db", actions: ["db.read"], uses: 4, where: "args.table == 'orders'" }];

describe("delegation to sub-agents (RFC 8693 act)", () => {
  it("a sub-agent gets a subset of the stage: nested act, both conditions, uses reserved from the parent", async () => {
    const { seq, capability } = await start("delegating");
    const answer = await delegate(seq, capability, { actor: "researcher", grants: readOnly });
    expect(answer.status).toBe(201);
    // It carries a capability: never cached, like every other answer that does.
    expect(answer.headers.get("cache-control")).toBe("no-store");
    expect(answer.headers.get("content-type")).toBe("application/json; charset=utf-8");
    const child = decodeJwt(answer.body.capability) as Record<string, any>;
    expect(child.sub).toBe("user:alice");
    expect(child.act).toEqual({ sub: "researcher", act: { sub: "agent-7" } });
    expect(child.aud).toEqual(["db"]);
    expect(child.authorization_details).toEqual([
      { type: "baton_tool", tool: "db", actions: ["db.read"], uses: 4, where: "(args.rows <= params.limit) && (args.table == 'orders')" },
    ]);
    expect(child.exp).toBeLessThanOrEqual((decodeJwt(capability).exp as number) + 0);
    expect(claimsOf(answer.body.parent.receipt)).toMatchObject({ kind: "delegate", decision: "ALLOW" });

    // The parent's db grant: 4 uses handed down; the delegate grant: 1 use.
    const parent = (await describe_(seq)).body;
    expect(parent.uses.map((u: any) => u.used)).toEqual([4, 0, 1]);

    // The child's token works within both conditions, and only there.
    expect((await redeem(KEY.db, answer.body.capability, "db.read", { rows: 10, table: "orders" })).status).toBe(200);
    expect((await redeem(KEY.db, answer.body.capability, "db.read", { rows: 10, table: "users" })).body.error.code).toBe("CONDITION_FAILED");
    expect((await redeem(KEY.db, answer.body.capability, "db.read", { rows: 1000, table: "orders" })).body.error.code).toBe("CONDITION_FAILED");
    expect((await redeem(KEY.db, answer.body.capability, "db.write", { rows: 1, table: "orders" })).body.error.code).toBe("SCOPE_EXCEEDED");
    // The child sequence records where it came from.
    const childState = (await describe_(answer.body.sequence, KEY.auditor)).body;
    expect(childState).toMatchObject({ actor: "researcher", subject: "user:alice", orchestrator: "orchestrator" });
  });

  it("widening is refused and changes nothing: another action, another tool, more uses than are left, a cumulative budget", async () => {
    const { seq, capability } = await start("delegating");
    const before = await ledgerState(seq);
    for (const grants of [
      [{ audience: "db", actions: ["db.drop"], uses: 1 }],
      [{ audience: "deployer", actions: ["deploy.apply"], uses: 1 }],
      [{ audience: "db", actions: ["db.read"], uses: 11 }],
      [
        { audience: "db", actions: ["db.read"], uses: 6 },
        { audience: "db", actions: ["db.write"], uses: 6 },
      ],
      [{ audience: "payments", actions: ["refund"], uses: 1 }],
    ]) {
      const refused = await delegate(seq, capability, { actor: "researcher", grants });
      expect(refused.status, JSON.stringify(grants)).toBe(403);
      expect(refused.body.error.code).toBe("SCOPE_EXCEEDED");
    }
    expect(await ledgerState(seq)).toEqual(before);
  });

  it("nesting beyond the depth cap is refused", async () => {
    const { seq, capability } = await start("delegating");
    const child = await delegate(seq, capability, {
      actor: "agent-2",
      grants: [
        { audience: "db", actions: ["db.read"], uses: 2 },
        { audience: "baton", actions: ["delegate"], uses: 1 },
      ],
    });
    expect(child.status).toBe(201);
    expect(decodeJwt(child.body.capability).act).toEqual({ sub: "agent-2", act: { sub: "agent-7" } });
    // agent-2 (its own credential) tries to hand on: act would be 3 deep; the workflow allows 2.
    const grandchild = await delegate(child.body.sequence, child.body.capability, { actor: "helper", grants: [{ audience: "db", actions: ["db.read"], uses: 1 }] }, KEY.agent2);
    expect(grandchild.status).toBe(403);
    expect(grandchild.body.error).toMatchObject({ code: "SCOPE_EXCEEDED", details: { depth: 3, max_depth: 2 } });
  });

  it("only the actor holding the current capability may delegate, and only with the delegate grant", async () => {
    const { seq, capability } = await start("delegating");
    expect((await delegate(seq, capability, { actor: "x", grants: readOnly }, KEY.agent2)).body.error.code).toBe("FORBIDDEN");
    expect((await delegate(seq, capability, { actor: "x", grants: readOnly }, KEY.orchestrator)).body.error.code).toBe("FORBIDDEN");
    // A workflow without a delegate grant: the capability is not addressed to Baton.
    const other = await start("two-keys");
    const refused = await delegate(other.seq, other.capability, { actor: "x", grants: [{ audience: "db", actions: ["db.read"], uses: 1 }] });
    expect(refused.body.error.code).toBe("AUDIENCE_MISMATCH");
    // A condition that does not parse is refused before the parent spends anything.
    const before = await ledgerState(seq);
    const bad = await delegate(seq, capability, { actor: "x", grants: [{ audience: "db", actions: ["db.read"], uses: 1, where: "args.(" }] });
    expect(bad.body.error.code).toBe("INVALID_REQUEST");
    expect(await ledgerState(seq)).toEqual(before);
  });

  describe("a sub-agent's share dies with the stage it was delegated from", () => {
    const reads = (uses: number) => ({ audience: "db", actions: ["db.read"], uses });
    const read = (token: string) => redeem(KEY.db, token, "db.read", { rows: 1 });
    async function advance(seq: string) {
      const opened = await submitEvidence(seq, await attest({ seq, stage: "research", type: "research_done" }));
      expect(opened.body.stage).toBe("report");
    }

    it("the parent advances: the child's token is refused SEQUENCE_VIOLATION, receipted with the standing it was decided on", async () => {
      const { seq, capability } = await start("delegating-staged");
      const child = await delegate(seq, capability, { actor: "researcher", grants: [reads(3)] });
      expect((await read(child.body.capability)).status).toBe(200);
      await advance(seq);
      const before = await ledgerState(child.body.sequence);

      const refused = await read(child.body.capability);
      expect(refused.status).toBe(409);
      expect(refused.body.error).toMatchObject({
        code: "SEQUENCE_VIOLATION",
        details: { token_stage: "research", ancestor: { sequence: seq, stage: "report", status: "active" } },
      });
      // A refusal of a genuine capability: in the child's chain, with the parent's standing as an input.
      const last = claimsOf((await receipts(child.body.sequence)).at(-1) as string);
      expect(last).toMatchObject({ kind: "redeem", decision: "DENY", code: "SEQUENCE_VIOLATION" });
      expect((last.inputs as any).lineage).toEqual([{ sequence: seq, stage: "report", status: "active" }]);
      // Nothing spent: the child keeps its two uses, and keeps them out of reach.
      expect(await ledgerState(child.body.sequence)).toEqual(before);
    });

    it("the parent is revoked: its children end with it", async () => {
      const { seq, capability } = await start("delegating-staged");
      const child = await delegate(seq, capability, { actor: "researcher", grants: [reads(2)] });
      expect((await api("POST", `/v1/sequences/${seq}/revoke`, { key: KEY.orchestrator, body: { reason: "done early" } })).status).toBe(200);
      const refused = await read(child.body.capability);
      expect(refused.body.error).toMatchObject({ code: "SEQUENCE_VIOLATION", details: { ancestor: { sequence: seq, status: "sealed" } } });
    });

    it("a grandchild dies with its grandparent's stage, and its parent can no longer hand on", async () => {
      const { seq, capability } = await start("delegating-staged");
      const child = await delegate(seq, capability, { actor: "agent-2", grants: [reads(4), { audience: "baton", actions: ["delegate"], uses: 2 }] });
      const grandchild = await delegate(child.body.sequence, child.body.capability, { actor: "helper", grants: [reads(1)] }, KEY.agent2);
      expect(grandchild.status).toBe(201);
      expect(decodeJwt(grandchild.body.capability).act).toEqual({ sub: "helper", act: { sub: "agent-2", act: { sub: "agent-7" } } });
      // Its parent still stands at the stage; the grandparent moves on, and the whole chain below it closes.
      await advance(seq);
      const refused = await read(grandchild.body.capability);
      expect(refused.body.error).toMatchObject({ code: "SEQUENCE_VIOLATION", details: { ancestor: { sequence: seq, stage: "report" } } });
      const last = claimsOf((await receipts(grandchild.body.sequence)).at(-1) as string);
      expect((last.inputs as any).lineage).toEqual([
        { sequence: child.body.sequence, stage: "research", status: "active" },
        { sequence: seq, stage: "report", status: "active" },
      ]);
      const handOn = await delegate(child.body.sequence, child.body.capability, { actor: "helper-2", grants: [reads(1)] }, KEY.agent2);
      expect(handOn.status).toBe(409);
      expect(handOn.body.error.code).toBe("SEQUENCE_VIOLATION");
    });

    it("while the parent's stage is open, the child's share is its own: used in the child, reserved in the parent", async () => {
      const { seq, capability } = await start("delegating-staged");
      const child = await delegate(seq, capability, { actor: "researcher", grants: [reads(2)] });
      expect((await read(child.body.capability)).status).toBe(200);
      expect((await read(child.body.capability)).body.sealed).toBe(true);
      // The parent counted the two uses when it handed them down, not when the child spent them.
      expect((await describe_(seq)).body.uses.map((u: any) => u.used)).toEqual([2, 1]);
    });
  });
});
