// (a) Two tool servers on this Node — a plain `node:http` one using `verifier.authorize`, and a
// Hono one using the `requireCapability` middleware — each authorizes a capability at a real
// Baton, refuses its replay at the gate, arguments outside the grant offline, and no token.
import { createServer } from "node:http";
import { serve } from "@hono/node-server";
import { VerifierError, createVerifier } from "@baton-dev/verifier";
import { requireCapability } from "@baton-dev/verifier/hono";
import { Hono } from "hono";
import { BATON_URL, CANARY, ISSUER, TOOL_KEY, expect, startDeployment } from "./common.mjs";

const verifier = createVerifier({ issuer: ISSUER, baseUrl: BATON_URL, audience: "deployer", apiKey: TOOL_KEY });

// Plain node:http.
const plain = createServer(async (req, res) => {
  let body = "";
  for await (const chunk of req) body += chunk;
  const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
  try {
    if (!token) throw new VerifierError("UNAUTHENTICATED", "a Baton capability is required (Authorization: Bearer <token>)");
    const { receipt } = await verifier.authorize(token, { action: "deploy.canary", args: JSON.parse(body || "{}") });
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ deployed: true, receipt }));
  } catch (error) {
    if (!(error instanceof VerifierError)) throw error;
    res.writeHead(error.status, { "content-type": "application/json" }).end(JSON.stringify(error.toJSON()));
  }
});
await new Promise((resolve) => plain.listen(0, "127.0.0.1", resolve));

// Hono, served on Node by @hono/node-server.
const app = new Hono();
app.post("/deploy/canary", requireCapability(verifier, { action: "deploy.canary" }), (c) => c.json({ deployed: true, receipt: c.get("receipt") }));
const hono = await new Promise((resolve) => {
  const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(server));
});

const servers = { "node:http": `http://127.0.0.1:${plain.address().port}/deploy/canary`, hono: `http://127.0.0.1:${hono.address().port}/deploy/canary` };
const post = async (url, token, args) => {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(args),
  });
  return { status: response.status, body: await response.json() };
};

for (const [kind, url] of Object.entries(servers)) {
  const { seq, capability } = await startDeployment();
  const outside = await post(url, capability, { ...CANARY, percent: 50 });
  expect(outside.status === 403 && outside.body.error?.code === "CONDITION_FAILED", `${kind}: percent 50 is outside the grant`, outside);
  const allowed = await post(url, capability, CANARY);
  expect(allowed.status === 200 && allowed.body.deployed && allowed.body.receipt?.split(".").length === 3, `${kind}: ALLOW with a receipt`, allowed);
  const replay = await post(url, capability, CANARY);
  expect(replay.status === 409 && replay.body.error?.code === "REPLAY_NONCE", `${kind}: replay refused at the gate`, replay);
  const none = await post(url, undefined, CANARY);
  expect(none.status === 401 && none.body.error?.code === "UNAUTHENTICATED", `${kind}: no capability`, none);
  console.log(`node ${process.version} ${kind.padEnd(9)} ALLOW + receipt; CONDITION_FAILED, REPLAY_NONCE, UNAUTHENTICATED refused  seq ${seq}`);
}
plain.close();
hono.close();
