import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { BUNDLED_EXAMPLE_CONFIG } from "../../src/config/bundled.js";

// The ProvidedContext augmentations (batonUrl, webhookPort) live with their readers.
import type {} from "../verifier/baton-under-test.js";
import type {} from "./webhook-receiver.js";
import type {} from "./oidc-issuer.js";
import { freePort } from "./free-port.js";

/** Starts `wrangler dev` on a free port with throw-away state, for the whole Node run. */
export default async function setup(project: TestProject) {
  const port = await freePort();
  const state = mkdtempSync(join(tmpdir(), "baton-node-tests-"));
  // The bundled examples, as development serves them, plus one webhook to the local receiver
  // of test/node/webhooks.test.ts (http to the loopback: allowed in development only). Passed
  // as BATON_CONFIG, the way a deployment passes its configuration.
  const webhookPort = await freePort();
  const webhook = { id: "node-receiver", url: `http://127.0.0.1:${webhookPort}/events`, events: ["escalated", "sealed", "revoked", "signal"] };
  // GitHub Actions is played by the OpenID provider test/node/workload-identity.test.ts runs on
  // oidcPort (http to the loopback: development only); offline-ci's issuer never answers.
  const oidcPort = await freePort();
  const oidcDownPort = await freePort();
  const audience = `http://127.0.0.1:${port}`;
  const attesters = [
    ...BUNDLED_EXAMPLE_CONFIG.attesters.map((a) => (a.id === "github-actions" ? { ...a, issuer: `http://127.0.0.1:${oidcPort}`, audience } : a)),
    { id: "offline-ci", issuer: `http://127.0.0.1:${oidcDownPort}`, audience, claims: { repository_owner: "example-org" } },
  ];
  const config = JSON.stringify({ ...BUNDLED_EXAMPLE_CONFIG, attesters, webhooks: [webhook] });
  const child: ChildProcess = spawn(
    "npx",
    // Its own inspector port too, so it can run beside another wrangler dev (npm start, a bench).
    ["wrangler", "dev", "--port", String(port), "--ip", "127.0.0.1", "--inspector-port", String(await freePort()), "--persist-to", state, "--show-interactive-dev-session=false", "--var", `BATON_CONFIG:${config}`],
    { detached: true, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, WRANGLER_SEND_METRICS: "false" } },
  );
  let log = "";
  child.stdout?.on("data", (d) => (log += d));
  child.stderr?.on("data", (d) => (log += d));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/.well-known/jwks.json`)).ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline || child.exitCode !== null) {
      stop(child);
      throw new Error(`wrangler dev did not start:\n${log.slice(-4000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  project.provide("batonUrl", url);
  project.provide("webhookPort", webhookPort);
  project.provide("oidcPort", oidcPort);
  project.provide("oidcDownPort", oidcDownPort);
  return () => {
    stop(child);
    rmSync(state, { recursive: true, force: true });
  };
}

function stop(child: ChildProcess) {
  try {
    if (child.pid) process.kill(-child.pid, "SIGTERM");
  } catch {
    // already gone
  }
}
