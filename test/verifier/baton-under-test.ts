import { inject } from "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    /** Base URL of the Baton that test/node/global-setup.ts starts for the Node suites. */
    batonUrl: string;
  }
}

/**
 * The Baton the verifier tests talk to, whichever runtime runs them: inside workerd
 * (the Worker itself, through its `exports`), or on Node (a `wrangler dev` started
 * by test/node/global-setup.ts). Same test file, same assertions, both runtimes.
 */
export interface BatonUnderTest {
  runtime: "workerd" | "node";
  base: string;
  issuer: string;
  fetch: typeof fetch;
}

export async function batonUnderTest(): Promise<BatonUnderTest> {
  if (typeof navigator !== "undefined" && navigator.userAgent === "Cloudflare-Workers") {
    // A variable specifier keeps Node's module graph from trying to resolve a workerd built-in.
    const builtin = "cloudflare:workers";
    const { exports } = (await import(/* @vite-ignore */ builtin)) as { exports: { default: { fetch: typeof fetch } } };
    const call: typeof fetch = (input, init) => exports.default.fetch(new Request(input as RequestInfo, init));
    return { runtime: "workerd", base: "https://baton.test", issuer: "https://baton.test", fetch: call };
  }
  return { runtime: "node", base: inject("batonUrl"), issuer: "http://localhost:8787", fetch: (input, init) => fetch(input, init) };
}

export const DEV_KEY = {
  orchestrator: "dev-orchestrator-key",
  agent: "dev-agent-key",
  auditor: "dev-auditor-key",
  deployer: "dev-tool-deployer-key",
  db: "dev-tool-db-key",
  observability: "dev-tool-observability-key",
} as const;

export async function call(baton: BatonUnderTest, method: string, path: string, key: string, body?: unknown) {
  const response = await baton.fetch(`${baton.base}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

export async function startDeployment(baton: BatonUnderTest, extra: Record<string, unknown> = {}) {
  const { status, body } = await call(baton, "POST", "/v1/sequences", DEV_KEY.orchestrator, {
    workflow: "deployment",
    params: { service: "checkout", version: "2.4.1" },
    subject: "user:alice",
    actor: "agent-7",
    ...extra,
  });
  if (status !== 201) throw new Error(`start failed: ${status} ${JSON.stringify(body)}`);
  return { seq: body.sequence as string, capability: body.capability as string };
}
