import { discoverAuthorizationServerMetadata, startAuthorization } from "@modelcontextprotocol/sdk/client/auth.js";
import { OAuthMetadataSchema } from "@modelcontextprotocol/sdk/shared/auth.js";
import { decodeJwt, exportJWK } from "jose";
import { signAttestation } from "../../src/client/index.js";
import * as oauth from "oauth4webapi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import monitorKey from "../../examples/keys/monitor.private.jwk.json";
import { BUNDLED_EXAMPLE_CONFIG } from "../../src/config/bundled.js";
import { createDpopProof, createVerifier } from "../../src/verifier/index.js";
import { startPrivateBaton } from "./private-baton.js";

// Baton's OAuth edge through an independent client, oauth4webapi (panva), black box against
// `wrangler dev`: RFC 8414 discovery against the issuer, the RFC 8693 exchange with client_secret_basic,
// DPoP (RFC 9449) with oauth4webapi's own DPoP handle, and the refusals it must read. The
// Baton is this file's own, whose issuer is its URL (oauth4webapi checks the metadata's issuer
// against the URL it asked). It is plain http on the loopback: oauth4webapi refuses http
// unless told `allowInsecureRequests`, which these tests pass, and only they.
const EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
const CAPABILITY = "urn:baton:params:oauth:token-type:capability";
const INSECURE = { [oauth.allowInsecureRequests]: true } as const;
const KEYS = { orchestrator: "dev-orchestrator-key", agent: "dev-agent-key", deployer: "dev-tool-deployer-key", observability: "dev-tool-observability-key" };

let baton: { url: string; stop: () => void };
let as: oauth.AuthorizationServer;
const client: oauth.Client = { client_id: "agent-7" };
const agentAuth = oauth.ClientSecretBasic(KEYS.agent);

beforeAll(async () => {
  baton = await startPrivateBaton((url) => ({ ...BUNDLED_EXAMPLE_CONFIG, issuer: url }));
  const issuer = new URL(baton.url);
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: "oauth2", ...INSECURE }));
});
afterAll(() => baton?.stop());

async function call(method: string, path: string, key: string, body?: unknown) {
  const response = await fetch(`${baton.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

async function startSequence(workflow: string, params: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const started = await call("POST", "/v1/sequences", KEYS.orchestrator, { workflow, params, subject: "user:alice", actor: "agent-7", ...extra });
  expect(started.status, JSON.stringify(started.body)).toBe(201);
  return { seq: started.body.sequence as string, capability: started.body.capability as string };
}

/** The exchange as oauth4webapi sends it and reads the answer. */
async function exchange(subject: string, target: Record<string, string>, options: { auth?: oauth.ClientAuth; DPoP?: oauth.DPoPHandle } = {}) {
  const response = await oauth.genericTokenEndpointRequest(
    as,
    client,
    options.auth ?? agentAuth,
    EXCHANGE,
    { subject_token: subject, subject_token_type: CAPABILITY, ...target },
    { ...INSECURE, ...(options.DPoP ? { DPoP: options.DPoP } : {}) },
  );
  return oauth.processGenericTokenEndpointResponse(as, client, response);
}

/** What oauth4webapi throws for an OAuth error body: the error and Baton's code beside it. */
async function refusal(attempt: Promise<unknown>): Promise<{ error: string; baton_code: string; status: number }> {
  const error = await attempt.then(
    () => {
      throw new Error("the exchange was not refused");
    },
    (e: unknown) => e,
  );
  if (error instanceof oauth.ResponseBodyError) return { error: error.error, baton_code: error.cause.baton_code as string, status: error.status };
  throw error;
}

describe("RFC 8414 discovery with oauth4webapi and the MCP SDK", () => {
  it("oauth4webapi discovers the issuer: token endpoint, the exchange grant, Basic client auth, DPoP algorithms, the token type", async () => {
    const issuer = new URL(baton.url);
    const discovered = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: "oauth2", ...INSECURE }));
    expect(discovered).toMatchObject({
      issuer: baton.url,
      token_endpoint: `${baton.url}/oauth/token`,
      grant_types_supported: [EXCHANGE],
      token_endpoint_auth_methods_supported: ["client_secret_basic"],
      dpop_signing_alg_values_supported: ["EdDSA", "Ed25519", "ES256"],
      baton_subject_token_types_supported: expect.arrayContaining([CAPABILITY]),
    });
    // Without the option, oauth4webapi refuses a plain-http issuer: the option is the tests' only.
    await expect(oauth.discoveryRequest(issuer, { algorithm: "oauth2" })).rejects.toThrow(/HTTPS/);
  });

  it("the MCP SDK reads the metadata (its schema requires authorization_endpoint and response_types_supported), and refuses the code flow before any redirect", async () => {
    const metadata = await discoverAuthorizationServerMetadata(new URL(baton.url));
    expect(metadata).toBeDefined();
    expect(OAuthMetadataSchema.safeParse(metadata).success).toBe(true);
    expect(metadata?.token_endpoint).toBe(`${baton.url}/oauth/token`);
    await expect(
      startAuthorization(baton.url, { metadata, clientInformation: { client_id: "agent-7" }, redirectUrl: "http://localhost:9/callback" }),
    ).rejects.toThrow(/does not support response type code/);
  });
});

describe("the token exchange with oauth4webapi", () => {
  it("client_secret_basic and a capability → the current stage's capability for the tool, which the tool's verifier accepts", async () => {
    const { capability } = await startSequence("deployment", { service: "checkout", version: "2.4.1" });
    const result = await exchange(capability, { resource: "http://localhost:3001/mcp" });
    expect(result).toMatchObject({ token_type: "bearer", issued_token_type: CAPABILITY, scope: "deploy.canary" });
    expect(result.expires_in).toBeGreaterThan(0);
    expect(decodeJwt(result.access_token).aud).toEqual(["deployer"]);

    const verifier = createVerifier({ issuer: baton.url, audience: "deployer", apiKey: KEYS.deployer });
    const { receipt } = await verifier.authorize(result.access_token, { action: "deploy.canary", args: { service: "checkout", version: "2.4.1", percent: 5 } });
    expect(receipt).toMatch(/^eyJ/);
  });

  it("DPoP with oauth4webapi's handle: a bound capability (token_type DPoP) that the gate honours with the agent's key only", async () => {
    const keyPair = await oauth.generateKeyPair("EdDSA", { extractable: true });
    const publicJwk = { ...(await exportJWK(keyPair.publicKey)), kid: "agent-7-oauth4webapi", alg: "EdDSA" };
    const { capability } = await startSequence("incident-response", { incident: "INC-7", service: "checkout" }, { actor_jwk: publicJwk });
    const DPoP = oauth.DPoP(client, keyPair);
    const result = await exchange(capability, { audience: "observability" }, { DPoP });
    expect(result.token_type).toBe("dpop");
    expect(decodeJwt(result.access_token).cnf).toEqual({ jkt: await DPoP.calculateThumbprint() });

    // Without the handle: invalid_dpop_proof.
    expect(await refusal(exchange(capability, { audience: "observability" }))).toEqual({ error: "invalid_dpop_proof", baton_code: "TOKEN_INVALID", status: 400 });
    // With another key's handle: the same.
    const thief = oauth.DPoP(client, await oauth.generateKeyPair("EdDSA", { extractable: true }));
    expect((await refusal(exchange(capability, { audience: "observability" }, { DPoP: thief }))).error).toBe("invalid_dpop_proof");

    // The bound capability at the tool: its verifier wants the agent's proof for the tool's request.
    const verifier = createVerifier({ issuer: baton.url, audience: "observability", apiKey: KEYS.observability });
    const htu = "https://observability.example/v1/logs";
    const proof = await createDpopProof(keyPair.privateKey, publicJwk, { htm: "POST", htu, accessToken: result.access_token, iat: Math.floor(Date.now() / 1000) });
    const allowed = await verifier.authorize(result.access_token, { action: "logs.read", args: { service: "checkout" }, dpop: { proof, htm: "POST", htu } });
    expect(allowed.receipt).toMatch(/^eyJ/);
  });

  it("bad client credentials: 401 with a Basic challenge, which oauth4webapi surfaces as such; the body is OAuth's", async () => {
    const { capability } = await startSequence("deployment", { service: "checkout", version: "2.4.1" });
    const error = await exchange(capability, { audience: "deployer" }, { auth: oauth.ClientSecretBasic("not-the-key") }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(oauth.WWWAuthenticateChallengeError);
    const challenge = error as oauth.WWWAuthenticateChallengeError;
    expect(challenge.status).toBe(401);
    expect(challenge.cause[0]).toMatchObject({ scheme: "basic", parameters: { realm: "baton" } });
    expect(await challenge.response.json()).toMatchObject({ error: "invalid_client", baton_code: "UNAUTHENTICATED" });
    // Another method than client_secret_basic is not taken either, though the key is right.
    const posted = await exchange(capability, { audience: "deployer" }, { auth: oauth.ClientSecretPost(KEYS.agent) }).catch((e: unknown) => e);
    expect(posted).toBeInstanceOf(oauth.WWWAuthenticateChallengeError);
    expect(await (posted as oauth.WWWAuthenticateChallengeError).response.json()).toMatchObject({ error: "invalid_client" });
  });

  it("a sealed sequence, another stage's capability, a resource Baton does not issue for: the errors RFC 8693 prescribes", async () => {
    const { seq, capability } = await startSequence("deployment", { service: "checkout", version: "2.4.1" });
    expect(await refusal(exchange(capability, { resource: "https://unknown.example/mcp" }))).toEqual({ error: "invalid_target", baton_code: "AUDIENCE_MISMATCH", status: 400 });
    expect((await refusal(exchange(capability, { audience: "db" }))).error).toBe("invalid_target");

    // The monitor attests the canary; the canary capability is now another stage's.
    const { "//": _comment, ...privateJwk } = monitorKey;
    const attestation = await signAttestation({ privateJwk, attester: "monitor", seq, stage: "canary", type: "canary_passed", facts: { service: "checkout", version: "2.4.1", error_rate: 0.001 } });
    const advanced = await call("POST", `/v1/sequences/${seq}/evidence`, KEYS.agent, { attestation });
    expect(advanced.body.stage).toBe("rollout");
    expect(await refusal(exchange(capability, { audience: "deployer" }))).toEqual({ error: "invalid_request", baton_code: "SEQUENCE_VIOLATION", status: 400 });

    expect((await call("POST", `/v1/sequences/${seq}/revoke`, KEYS.orchestrator)).status).toBe(200);
    expect(await refusal(exchange(advanced.body.capability, { audience: "deployer" }))).toEqual({ error: "invalid_request", baton_code: "SEALED_SEQUENCE", status: 400 });
  });
});
