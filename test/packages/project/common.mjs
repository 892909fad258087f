// Shared by the tool servers of this throw-away project: the Baton they talk to, and one
// deployment sequence per check, started with @baton-dev/client as an orchestrator would.
import { BatonClientError, createClient } from "@baton-dev/client";

export const BATON_URL = process.env.BATON_URL ?? "http://localhost:8787";
/** The development issuer: what `iss` says, whichever port this Baton answers on (`baseUrl`). */
export const ISSUER = "http://localhost:8787";
export const TOOL_KEY = "dev-tool-deployer-key";
export const CANARY = { service: "checkout", version: "2.4.1", percent: 5 };

const orchestrator = createClient({ baseUrl: BATON_URL, apiKey: "dev-orchestrator-key" });

export async function startDeployment() {
  const started = await orchestrator.orchestrator.start({
    workflow: "deployment",
    params: { service: "checkout", version: "2.4.1" },
    subject: "user:alice",
    actor: "agent-7",
  });
  return { seq: started.sequence, capability: started.capability };
}

/** Fails the run with what was expected and what came. */
export function expect(condition, what, got) {
  if (!condition) {
    console.error(`FAIL ${what}: got ${typeof got === "string" ? got : JSON.stringify(got)}`);
    process.exit(1);
  }
}

export { BatonClientError };
