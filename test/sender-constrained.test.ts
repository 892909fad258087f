import { calculateJwkThumbprint, decodeJwt, exportJWK, generateKeyPair } from "jose";
import { describe, expect, it } from "vitest";
import { createDpopProof } from "../src/tokens/dpop.js";
import { KEY, PARAMS, api, approve, attest, ledgerState, start, submitEvidence } from "./helpers.js";

// incident-response is sender-constrained: capabilities carry cnf.jkt of the
// agent's key, and the gate wants a DPoP proof (RFC 9449) of that key for the
// very request the agent sent the tool.
const TOOL_URL = "https://observability.example/v1/logs";
const logsArgs = { service: PARAMS["incident-response"].service };

async function agentKey() {
  const { privateKey, publicKey } = await generateKeyPair("EdDSA", { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid: "agent-7-key", alg: "EdDSA" };
  return { privateKey, publicJwk };
}

async function startBound() {
  const key = await agentKey();
  const started = await start("incident-response", { body: { actor_jwk: key.publicJwk } });
  return { ...started, key };
}

function proof(key: Awaited<ReturnType<typeof agentKey>>, token: string, overrides: { htm?: string; htu?: string; iat?: number; jti?: string } = {}) {
  return createDpopProof(key.privateKey, key.publicJwk, {
    htm: overrides.htm ?? "POST",
    htu: overrides.htu ?? TOOL_URL,
    accessToken: token,
    iat: overrides.iat ?? Math.floor(Date.now() / 1000),
    jti: overrides.jti,
  });
}

/** The tool server's redeem: the capability, and the DPoP header with its own request's method and URL. */
function redeemWithProof(token: string, dpopProof: string | undefined, request: { htm?: string; htu?: string } = {}) {
  return api("POST", "/v1/redeem", {
    key: KEY.observability,
    body: {
      token,
      action: "logs.read",
      args: logsArgs,
      ...(dpopProof ? { dpop: { proof: dpopProof, htm: request.htm ?? "POST", htu: request.htu ?? TOOL_URL } } : {}),
    },
  });
}

describe("sender-constrained capabilities (DPoP)", () => {
  it("start requires the actor's public key; the capability carries its thumbprint", async () => {
    const refused = await api("POST", "/v1/sequences", {
      key: KEY.orchestrator,
      body: { workflow: "incident-response", params: PARAMS["incident-response"], subject: "user:alice", actor: "agent-7" },
    });
    expect(refused.body.error.code).toBe("INVALID_REQUEST");
    const { privateKey } = await agentKey();
    const key = { ...(await exportJWK(privateKey)), kid: "agent-7-key", alg: "EdDSA" };
    const withPrivate = await api("POST", "/v1/sequences", {
      key: KEY.orchestrator,
      body: { workflow: "incident-response", params: PARAMS["incident-response"], subject: "user:alice", actor: "agent-7", actor_jwk: key },
    });
    expect(withPrivate.body.error.code).toBe("INVALID_REQUEST");

    const { capability, key: agent } = await startBound();
    expect(decodeJwt(capability).cnf).toEqual({ jkt: await calculateJwkThumbprint(agent.publicJwk, "sha256") });
  });

  it("a valid proof for this request is allowed; the token alone, or with a thief's proof, is useless", async () => {
    const { seq, capability, key } = await startBound();
    const before = await ledgerState(seq);
    const bare = await redeemWithProof(capability, undefined);
    expect(bare.body.error).toMatchObject({ code: "TOKEN_INVALID", message: expect.stringMatching(/DPoP proof is required/) });
    const thief = await agentKey();
    const stolen = await redeemWithProof(capability, await proof(thief, capability));
    expect(stolen.body.error).toMatchObject({ code: "TOKEN_INVALID", message: expect.stringMatching(/another key/) });
    expect(await ledgerState(seq)).toEqual(before);

    const allowed = await redeemWithProof(capability, await proof(key, capability));
    expect(allowed.body).toMatchObject({ decision: "ALLOW" });
  });

  it("a replayed proof → REPLAY_NONCE; a proof for another URL, method or token → TOKEN_INVALID", async () => {
    const { capability, key } = await startBound();
    const once = await proof(key, capability);
    expect((await redeemWithProof(capability, once)).status).toBe(200);
    expect((await redeemWithProof(capability, once)).body.error.code).toBe("REPLAY_NONCE");

    const otherUrl = await redeemWithProof(capability, await proof(key, capability, { htu: "https://observability.example/v1/delete" }));
    expect(otherUrl.body.error).toMatchObject({ code: "TOKEN_INVALID", message: expect.stringMatching(/htu/) });
    const otherMethod = await redeemWithProof(capability, await proof(key, capability, { htm: "GET" }));
    expect(otherMethod.body.error).toMatchObject({ code: "TOKEN_INVALID", message: expect.stringMatching(/method/) });
    const other = await startBound();
    const otherToken = await redeemWithProof(capability, await proof(key, other.capability));
    expect(otherToken.body.error).toMatchObject({ code: "TOKEN_INVALID", message: expect.stringMatching(/ath/) });
    const stale = await redeemWithProof(capability, await proof(key, capability, { iat: Math.floor(Date.now() / 1000) - 120 }));
    expect(stale.body.error).toMatchObject({ code: "TOKEN_INVALID", message: expect.stringMatching(/too old/) });
    // A query string does not change the resource (RFC 9449 §4.3).
    const query = await proof(key, capability, { htu: `${TOOL_URL}?since=1h` });
    expect((await redeemWithProof(capability, query, { htu: `${TOOL_URL}?since=1h` })).status).toBe(200);
  });

  it("the next stage, opened by a plan attestation and two SREs, is bound to the same key", async () => {
    const { seq, key } = await startBound();
    const plan = await attest({
      seq,
      stage: "diagnose",
      type: "remediation_plan",
      facts: { ...PARAMS["incident-response"], action: "restart" },
    });
    expect((await submitEvidence(seq, plan)).status).toBe(202);
    expect((await approve(seq, "sam")).status).toBe(202);
    const opened = await approve(seq, "sasha");
    expect(opened.body.stage).toBe("restart");
    const restart = opened.body.capability;
    expect(decodeJwt(restart).cnf).toEqual({ jkt: await calculateJwkThumbprint(key.publicJwk, "sha256") });
    const url = "https://runtime.example/v1/restart";
    const answer = await api("POST", "/v1/redeem", {
      key: KEY.runtime,
      body: {
        token: restart,
        action: "service.restart",
        args: logsArgs,
        dpop: { proof: await proof(key, restart, { htu: url }), htm: "POST", htu: url },
      },
    });
    expect(answer.body).toMatchObject({ decision: "ALLOW", sealed: true });
  });
});
