import { decodeJwt } from "jose";
import { describe, expect, it } from "vitest";
import { KEY, api, claimsOf, describe_, ledgerState, redeem, start } from "./helpers.js";

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
});
