import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";

// The ProvidedContext augmentation (batonUrl) lives with its reader.
import type {} from "../verifier/baton-under-test.js";

/** Starts `wrangler dev` on a free port with throw-away state, for the whole Node run. */
export default async function setup(project: TestProject) {
  const port = await freePort();
  const state = mkdtempSync(join(tmpdir(), "baton-node-tests-"));
  const child: ChildProcess = spawn(
    "npx",
    // Its own inspector port too, so it can run beside another wrangler dev (npm start, a bench).
    ["wrangler", "dev", "--port", String(port), "--ip", "127.0.0.1", "--inspector-port", String(await freePort()), "--persist-to", state, "--show-interactive-dev-session=false"],
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

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}
