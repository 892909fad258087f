import { describe, expect, it } from "vitest";
import { DELEGATION_MAX_DEPTH } from "../../src/limits.js";
import { type Act, CapabilityClaimsSchema, actDepth } from "../../src/tokens/capability.js";

const claims = (act: Act) => ({
  iss: "https://baton.test",
  sub: "user:alice",
  act,
  aud: ["deployer"],
  iat: 1,
  nbf: 1,
  exp: 2,
  jti: "j",
  seq: "s",
  stage: "canary",
  workflow: "w",
  receipt: "r",
  authorization_details: [],
  evidence: null,
});

const chain = (depth: number): Act => (depth === 1 ? { sub: "agent-1" } : { sub: `agent-${depth}`, act: chain(depth - 1) });

describe("capability claims: the actor chain", () => {
  it(`keeps a chain of up to ${DELEGATION_MAX_DEPTH} actors whole, and refuses a longer one`, () => {
    for (let depth = 1; depth <= DELEGATION_MAX_DEPTH; depth++) {
      const parsed = CapabilityClaimsSchema.parse(claims(chain(depth)));
      expect(parsed.act).toEqual(chain(depth));
      expect(actDepth(parsed.act)).toBe(depth);
    }
    const tooDeep = CapabilityClaimsSchema.safeParse(claims(chain(DELEGATION_MAX_DEPTH + 1)));
    expect(tooDeep.success).toBe(false);
    expect(tooDeep.error?.issues[0]?.message).toBe("act is nested too deep");
  });

  it("refuses an actor without a subject at any depth", () => {
    const broken = { sub: "agent-3", act: { sub: "agent-2", act: { act: { sub: "agent-1" } } } } as unknown as Act;
    expect(CapabilityClaimsSchema.safeParse(claims(broken)).success).toBe(false);
  });
});
