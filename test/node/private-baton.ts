import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./free-port.js";

/**
 * A Baton of a test file's own: `wrangler dev` on a free port with throw-away state and a
 * configuration built for its URL (the shared global setup's Baton keeps the development
 * issuer, http://localhost:8787, which a client that checks the issuer against the URL it
 * fetched metadata from refuses).
 */
export async function startPrivateBaton(configFor: (url: string) => unknown): Promise<{ url: string; stop: () => void }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const state = mkdtempSync(join(tmpdir(), "baton-private-"));
  const envFile = join(state, "baton.env");
  // Backticks: the JSON holds single and double quotes (CEL), never a backtick.
  writeFileSync(envFile, `BATON_CONFIG=\`${JSON.stringify(configFor(url))}\`\n`);
  const child: ChildProcess = spawn(
    "npx",
    // Its own inspector port too, so it can run beside the global setup's wrangler dev.
    ["wrangler", "dev", "--port", String(port), "--ip", "127.0.0.1", "--inspector-port", String(await freePort()), "--persist-to", join(state, "d"),
      "--env-file", envFile, "--show-interactive-dev-session=false"],
    { detached: true, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, WRANGLER_SEND_METRICS: "false" } },
  );
  let log = "";
  child.stdout?.on("data", (d) => (log += d));
  child.stderr?.on("data", (d) => (log += d));
  const stop = () => {
    try {
      if (child.pid) process.kill(-child.pid, "SIGTERM");
    } catch {
      // already gone
    }
    rmSync(state, { recursive: true, force: true });
  };
  const deadline = Date.now() + 90_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/.well-known/jwks.json`)).ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline || child.exitCode !== null) {
      stop();
      throw new Error(`wrangler dev did not start:\n${log.slice(-4000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  return { url, stop };
}
