import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { freePort } from "./free-port.js";

/**
 * A Baton of its own for the console's browser tests: `wrangler dev` on a free port whose
 * configuration names http://localhost:<port> as the passkeys' origin (the shared global
 * setup's Baton accepts only the development default, http://localhost:8787). Three workflows
 * of the examples: the reimbursement walkthrough (1 of 1, requester excluded), the incident
 * restart (2 of 3) and the report publication (whose flow raises a real signal).
 */
export async function startBaton(): Promise<{ origin: string; stop: () => void }> {
  const port = await freePort();
  const origin = `http://localhost:${port}`;
  const state = mkdtempSync(join(tmpdir(), "baton-console-tests-"));
  const read = (path: string) => JSON.parse(readFileSync(new URL(`../../examples/${path}`, import.meta.url), "utf8"));
  const config = {
    ...read("dev-config.json"),
    workflows: [read("workflows/reimbursement.json"), read("workflows/incident-response.json"), read("workflows/report-publication.json")],
    passkeys: { rp_id: "localhost", rp_name: "Baton", origins: [origin] },
  };
  const envFile = join(state, "console.env");
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
  return { origin, stop };
}

/** A person at their own browser profile, with a CDP virtual platform authenticator (user verification on). */
export async function personAt(browser: Browser): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable", { enableUI: false });
  await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  return page;
}

/** Signs an attestation with an example attester's key (examples/sign-attestation.mjs). */
export function attest(args: { attester: string; seq: string; stage: string; type: string; facts: Record<string, unknown> }): string {
  return execFileSync(
    process.execPath,
    ["examples/sign-attestation.mjs", "--attester", args.attester, "--seq", args.seq, "--stage", args.stage, "--type", args.type, "--facts", JSON.stringify(args.facts)],
    { encoding: "utf8" },
  ).trim();
}
