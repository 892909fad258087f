import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import type { Browser, Page } from "playwright-core";
import { freePort } from "./free-port.js";
import { startWranglerDev } from "./wrangler-dev.js";

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
  const read = (path: string) => JSON.parse(readFileSync(new URL(`../../examples/${path}`, import.meta.url), "utf8"));
  const config = {
    ...read("dev-config.json"),
    workflows: [read("workflows/reimbursement.json"), read("workflows/incident-response.json"), read("workflows/report-publication.json")],
    passkeys: { rp_id: "localhost", rp_name: "Baton", origins: [origin] },
  };
  const { stop } = await startWranglerDev(config, "console-tests", port);
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
