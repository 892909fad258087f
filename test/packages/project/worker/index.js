// (b) A tool server as a Cloudflare Worker (no nodejs_compat): Hono and the verifier's
// middleware, configured from the Worker's vars (available per request, hence built lazily).
import { createVerifier } from "@baton-dev/verifier";
import { requireCapability } from "@baton-dev/verifier/hono";
import { Hono } from "hono";

let guard;
const app = new Hono();
app.post(
  "/deploy/canary",
  (c, next) => {
    guard ??= requireCapability(createVerifier({ issuer: c.env.BATON_ISSUER, baseUrl: c.env.BATON_URL, audience: "deployer", apiKey: c.env.BATON_TOOL_KEY }), {
      action: "deploy.canary",
    });
    return guard(c, next);
  },
  (c) => c.json({ deployed: true, receipt: c.get("receipt") }),
);

export default app;
