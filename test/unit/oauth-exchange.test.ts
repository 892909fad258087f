import { describe, expect, it } from "vitest";
import incidentResponse from "../../examples/workflows/incident-response.json";
import twoKeys from "../fixtures/workflows/two-keys.json";
import { basicCredentials } from "../../src/api/routes/oauth/client-auth.js";
import { OAuthError } from "../../src/api/routes/oauth/errors.js";
import { formParameters } from "../../src/api/routes/oauth/token-request.js";
import { compileWorkflow } from "../../src/policy/compile.js";
import { tokenRequestDpopProblem } from "../../src/policy/dpop-binding.js";
import { exchangeProblem } from "../../src/policy/exchange.js";
import { initialState } from "../../src/policy/fold.js";
import type { CapabilityClaims, LedgerState } from "../../src/policy/types.js";
import { narrowCapability } from "../../src/tokens/capability.js";

// The pure parts of the token exchange, with a fixed time: the subject-token check the ledger
// runs, the narrowing, the token-endpoint DPoP binding, and the parsing of Basic credentials
// and forms. test/oauth-token.test.ts drives them through the Worker.
const NOW_S = Date.UTC(2026, 10, 22, 12, 0, 0) / 1000;
const workflow = await compileWorkflow(twoKeys);
const bound = await compileWorkflow(incidentResponse);

function state(overrides: Partial<LedgerState> = {}, actorJkt?: string): LedgerState {
  const record = {
    seq: "seq-1",
    workflowId: workflow.id,
    workflow: workflow.hash,
    params: { limit: 100 },
    subject: "user:alice",
    actor: "agent-7",
    orchestrator: "orchestrator",
    createdAt: NOW_S * 1000 - 1000,
    ...(actorJkt ? { actorJkt } : {}),
  };
  return { ...initialState(record, () => false), ...overrides };
}

function capability(overrides: Partial<CapabilityClaims> = {}): CapabilityClaims {
  return {
    iss: "https://baton.test",
    sub: "user:alice",
    act: { sub: "agent-7" },
    aud: ["db", "deployer"],
    iat: NOW_S - 10,
    nbf: NOW_S - 10,
    exp: NOW_S + 300,
    jti: "cap-1",
    seq: "seq-1",
    stage: "prepare",
    workflow: workflow.hash,
    receipt: "r0",
    authorization_details: [
      { type: "baton_tool", tool: "db", actions: ["db.read"], where: "args.rows <= params.limit", uses: 50 },
      { type: "baton_tool", tool: "deployer", actions: ["deploy.plan"], where: "args.plan.size() > 0", uses: 1 },
    ],
    other_stages: [{ stage: "apply", tool: "deployer", actions: ["deploy.apply"] }],
    evidence: null,
    params: { limit: 100 },
    ...overrides,
  };
}

describe("exchangeProblem: what a subject token must stand for", () => {
  it("the current stage of this sequence and workflow version, expired or not", () => {
    expect(exchangeProblem(workflow, state(), capability())).toBeNull();
    expect(exchangeProblem(workflow, state(), capability({ exp: NOW_S - 3600 }))).toBeNull();
  });

  it("sealed first, then another sequence or version (TOKEN_INVALID), then another stage (SEQUENCE_VIOLATION)", () => {
    expect(exchangeProblem(workflow, state({ status: "sealed", sealReason: "revoked" }), capability({ stage: "apply" }))?.code).toBe("SEALED_SEQUENCE");
    expect(exchangeProblem(workflow, state(), capability({ seq: "seq-2" }))?.code).toBe("TOKEN_INVALID");
    expect(exchangeProblem(workflow, state(), capability({ workflow: "another-hash" }))?.code).toBe("TOKEN_INVALID");
    expect(exchangeProblem(workflow, state(), capability({ stage: "apply" }))).toMatchObject({
      code: "SEQUENCE_VIOLATION",
      details: { token_stage: "apply", current_stage: "prepare" },
    });
    expect(exchangeProblem(workflow, state({ stage: 1 }), capability())?.code).toBe("SEQUENCE_VIOLATION");
  });

  it("the holder's key: a bound workflow's token must be bound, to the actor's key; an unbound one's must not name another", () => {
    const token = (cnf?: { jkt: string }) => capability({ workflow: bound.hash, stage: "diagnose", ...(cnf ? { cnf } : {}) });
    const boundState = { ...state({}, "jkt-actor"), record: { ...state({}, "jkt-actor").record, workflow: bound.hash } };
    expect(exchangeProblem(bound, boundState, token({ jkt: "jkt-actor" }))).toBeNull();
    expect(exchangeProblem(bound, boundState, token())?.message).toMatch(/not bound/);
    expect(exchangeProblem(bound, boundState, token({ jkt: "jkt-thief" }))?.message).toMatch(/another key/);
    expect(exchangeProblem(workflow, state(), capability({ cnf: { jkt: "jkt-thief" } }))?.code).toBe("TOKEN_INVALID");
  });
});

describe("narrowCapability", () => {
  it("addresses one tool: its grants and its other stages only; jti, exp, receipt, binding and params unchanged", () => {
    const whole = capability({ cnf: { jkt: "k" } });
    expect(narrowCapability(whole, "db")).toEqual({
      ...whole,
      aud: ["db"],
      authorization_details: [whole.authorization_details[0]],
      other_stages: undefined,
    });
    expect(Object.hasOwn(narrowCapability(whole, "db") as object, "other_stages")).toBe(false);
    expect(narrowCapability(whole, "deployer")?.other_stages).toEqual(whole.other_stages);
    expect(narrowCapability(whole, "payments")).toBeNull();
  });

  it("keeps every member in its place, so a one-tool capability narrows to the same JSON (and the same signature)", () => {
    const single = capability({ aud: ["deployer"], authorization_details: [capability().authorization_details[1] as never] });
    expect(JSON.stringify(narrowCapability(single, "deployer"))).toBe(JSON.stringify(single));
    expect(Object.keys(narrowCapability(capability(), "deployer") as object)).toEqual(Object.keys(capability()));
  });
});

describe("tokenRequestDpopProblem (RFC 9449 §5)", () => {
  const expected = { jkt: "k", htu: "https://baton.test/oauth/token", subjectTokenHash: "h".repeat(43) };
  const proof = (claims: Partial<{ htm: string; htu: string; iat: number; ath: string; exp: number }> = {}, jkt = "k") => ({
    jkt,
    claims: { htm: "POST", htu: expected.htu, iat: NOW_S, jti: "p1", ...claims },
  });
  const check = (p: ReturnType<typeof proof>) => tokenRequestDpopProblem(p, expected, NOW_S, 5, 60);

  it("a proof without ath, or with the subject token's, for POST to the token endpoint, fresh: accepted", () => {
    expect(check(proof())).toBeNull();
    expect(check(proof({ ath: expected.subjectTokenHash }))).toBeNull();
    // Query and fragment are not part of the comparison (RFC 9449 §4.3).
    expect(check(proof({ htu: "https://BATON.test:443/oauth/token?x=1" }))).toBeNull();
  });

  it("another key, another token's ath, another method or URL, too old, from the future, expired: refused", () => {
    expect(check(proof({}, "thief"))).toMatch(/another key/);
    expect(check(proof({ ath: "x".repeat(43) }))).toMatch(/ath/);
    expect(check(proof({ htm: "GET" }))).toMatch(/method/);
    expect(check(proof({ htm: "post" }))).toMatch(/method/);
    expect(check(proof({ htu: "https://baton.test/v1/redeem" }))).toMatch(/htu/);
    expect(check(proof({ iat: NOW_S - 66 }))).toMatch(/too old/);
    expect(check(proof({ iat: NOW_S + 6 }))).toMatch(/future/);
    expect(check(proof({ exp: NOW_S - 6 }))).toMatch(/expired/);
  });
});

describe("client_secret_basic credentials and the form (RFC 6749 §2.3.1, §3.2, Appendix B)", () => {
  const header = (raw: string) => `Basic ${btoa(raw)}`;

  it("the id and secret are form-urlencoded: %3A is a colon, + a space; only the first colon separates", () => {
    expect(basicCredentials(header("agent-7:dev-agent-key"))).toEqual({ id: "agent-7", secret: "dev-agent-key" });
    expect(basicCredentials(header("a%3Ab:c%2Bd+e"))).toEqual({ id: "a:b", secret: "c+d e" });
    expect(basicCredentials(header("agent:se:cret"))).toEqual({ id: "agent", secret: "se:cret" });
    expect(basicCredentials(`basic ${btoa("a:b")}`)).toEqual({ id: "a", secret: "b" });
  });

  it("anything else is null: no colon, an empty part, bad percent-encoding, not base64, not UTF-8, another scheme", () => {
    for (const bad of [header("agent"), header(":secret"), header("agent:"), header("a:%zz"), "Basic !!!", "Basic", `Bearer ${btoa("a:b")}`, `Basic ${btoa("a:\xff\xfe")}`]) {
      expect(basicCredentials(bad), bad).toBeNull();
    }
  });

  it("formParameters: empty values count as omitted; a repeated parameter is invalid_request, a repeated target invalid_target", () => {
    expect(formParameters(new URLSearchParams("a=1&b=&c=3&b="))).toEqual({ a: "1", c: "3" });
    const refusal = (query: string) => {
      try {
        formParameters(new URLSearchParams(query));
      } catch (error) {
        return error instanceof OAuthError ? [error.error, error.code] : error;
      }
      return null;
    };
    expect(refusal("grant_type=a&grant_type=b")).toEqual(["invalid_request", "INVALID_REQUEST"]);
    expect(refusal("resource=a&resource=b")).toEqual(["invalid_target", "AUDIENCE_MISMATCH"]);
    expect(refusal("audience=a&audience=b")).toEqual(["invalid_target", "AUDIENCE_MISMATCH"]);
    expect(refusal("audience=a&audience=")).toBeNull();
  });
});
