#!/usr/bin/env node
// The standards at Baton's edge, against `npm start` as a user runs it (the bundled
// configuration, issuer http://localhost:8787), each through a client that is not Baton's:
// an AuthZEN PEP (plain fetch, the spec's shapes), the MCP SDK's OAuth discovery, and
// oauth4webapi's RFC 8414 discovery and RFC 8693 token exchange. .ci/run runs it after the
// walkthroughs; every step exits 1 with what differed. (The fine-grained tests are
// test/authzen.test.ts, test/node/mcp-authorization.test.ts and test/node/oauth4webapi.test.ts.)
import { discoverAuthorizationServerMetadata } from "@modelcontextprotocol/sdk/client/auth.js";
import { decodeJwt } from "jose";
import * as oauth from "oauth4webapi";

const BATON = process.argv[2] ?? process.env.BATON_URL ?? "http://localhost:8787";
const KEYS = { orchestrator: "dev-orchestrator-key", agent: "dev-agent-key", deployer: "dev-tool-deployer-key" };
const CANARY = { service: "checkout", version: "2.4.1", percent: 5 };

function check(what, ok, detail) {
  if (!ok) {
    console.error(`standards: ${what}: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`);
    process.exit(1);
  }
  console.log(`ok  ${what}`);
}

async function call(method, path, key, body) {
  const response = await fetch(`${BATON}${path}`, {
    method,
    headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

async function startDeployment() {
  const started = await call("POST", "/v1/sequences", KEYS.orchestrator, {
    workflow: "deployment",
    params: { service: "checkout", version: "2.4.1" },
    subject: "user:alice",
    actor: "agent-7",
  });
  check("a deployment starts", started.status === 201, started);
  return started.body;
}

// 1. AuthZEN: the metadata, a permit that spends the use, the same evaluation again denied with Baton's code.
const authzen = await call("GET", "/.well-known/authzen-configuration");
check("AuthZEN metadata names the evaluation endpoint", authzen.body.access_evaluation_endpoint === `${BATON}/access/v1/evaluation`, authzen.body);
const { capability, sequence } = await startDeployment();
const evaluation = {
  subject: { type: "agent", id: "agent-7" },
  action: { name: "deploy.canary" },
  resource: { type: "tool", id: "deployer", properties: CANARY },
  context: { capability },
};
const permit = await call("POST", "/access/v1/evaluation", KEYS.deployer, evaluation);
check("AuthZEN evaluation permits, with the receipt", permit.body.decision === true && typeof permit.body.context?.receipt === "string", permit.body);
const denied = await call("POST", "/access/v1/evaluation", KEYS.deployer, evaluation);
check("AuthZEN evaluation replayed is denied REPLAY_NONCE, receipted", denied.body.decision === false && denied.body.context?.code === "REPLAY_NONCE" && typeof denied.body.context?.receipt === "string", denied.body);

// 2. The MCP SDK's OAuth discovery of Baton as an authorization server (RFC 8414).
const metadata = await discoverAuthorizationServerMetadata(new URL(BATON));
check("the MCP SDK discovers Baton's RFC 8414 metadata", metadata?.token_endpoint === `${BATON}/oauth/token`, metadata ?? "nothing found");

// 3. oauth4webapi: discovery, then the token exchange of the sequence's capability for the deployer's.
// Plain http on localhost: oauth4webapi refuses it unless told, as here (development only).
const insecure = { [oauth.allowInsecureRequests]: true };
const issuer = new URL(BATON);
const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: "oauth2", ...insecure }));
check("oauth4webapi discovers the token-exchange grant", as.grant_types_supported?.includes("urn:ietf:params:oauth:grant-type:token-exchange"), as);
const client = { client_id: "agent-7" };
const exchange = (subject_token, auth = oauth.ClientSecretBasic(KEYS.agent)) =>
  oauth
    .genericTokenEndpointRequest(as, client, auth, "urn:ietf:params:oauth:grant-type:token-exchange", {
      subject_token,
      subject_token_type: "urn:baton:params:oauth:token-type:capability",
      audience: "deployer",
    }, insecure)
    .then((response) => oauth.processGenericTokenEndpointResponse(as, client, response));
const exchanged = await exchange(capability);
const claims = decodeJwt(exchanged.access_token);
check("oauth4webapi exchanges the capability for the deployer's", claims.seq === sequence && JSON.stringify(claims.aud) === JSON.stringify(["deployer"]), claims);
// A 401 with a Basic challenge, which oauth4webapi surfaces as a challenge; the body is OAuth's, with Baton's code.
const badClient = await exchange(capability, oauth.ClientSecretBasic("not-the-key")).then(
  () => null,
  (error) => error,
);
const badBody = badClient instanceof oauth.WWWAuthenticateChallengeError ? await badClient.response.json() : null;
check(
  "a wrong client secret is invalid_client (401) with Baton's code",
  badClient?.status === 401 && badBody?.error === "invalid_client" && badBody?.baton_code === "UNAUTHENTICATED",
  String(badClient),
);
console.log("standards: ok");
