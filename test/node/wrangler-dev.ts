import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./free-port.js";

/**
 * A Baton of a test's own: `wrangler dev` on a free port with throw-away state and the given
 * configuration as BATON_CONFIG (through an env file: the JSON holds both kinds of quotes),
 * for a suite whose configuration differs from the global setup's (on `port` when the
 * configuration must name it, e.g. as the passkeys' origin). Ready when its JWKS answers.
 */
export async function startWranglerDev(config: unknown, label: string, port?: number): Promise<{ port: number; stop: () => void }> {
  port ??= await freePort();
  const state = mkdtempSync(join(tmpdir(), `baton-${label}-`));
  const envFile = join(state, "baton.env");
  // Backticks: the JSON holds single and double quotes (CEL), never a backtick.
  writeFileSync(envFile, `BATON_CONFIG=\`${JSON.stringify(config)}\`\n`);
  const child: ChildProcess = spawn(
    "npx",
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
      if ((await fetch(`http://127.0.0.1:${port}/.well-known/jwks.json`)).ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline || child.exitCode !== null) {
      stop();
      throw new Error(`wrangler dev did not start:\n${log.slice(-4000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  return { port, stop };
}
