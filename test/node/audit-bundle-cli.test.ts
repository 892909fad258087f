import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT, importJWK } from "jose";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import expenseChecker from "../../examples/keys/expense-checker.private.jwk.json";
import { approvalDigest } from "../../src/tokens/approval-signing.js";
import { passkeyApprovalChallenge } from "../../src/tokens/passkey.js";
import { createSoftAuthenticator } from "../helpers/soft-authenticator.js";

// `baton audit verify <bundle.json>` on an evidence bundle downloaded from a running Baton
// (wrangler dev): a reimbursement approved with an enrolled (software) passkey. The bundle
// verifies as it is; a bundle whose credential log lost the key, a receipt that was altered,
// or an export without credentials are refused.
const ROOT = join(import.meta.dirname, "..", "..");
const KEY = { orchestrator: "dev-orchestrator-key", auditor: "dev-auditor-key", operator: "dev-operator-key", approver: "dev-approver-key", attester: "dev-attester-key" };

let base = "";
let dir = "";
let bundle: Record<string, any> = {};

async function call(method: string, path: string, key: string | null, body?: unknown) {
  const headers: Record<string, string> = key ? { authorization: `Bearer ${key}` } : {};
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

function baton(...args: string[]) {
  const result = spawnSync(process.execPath, [join(ROOT, "src", "cli", "baton.mjs"), ...args], { cwd: dir, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function write(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content));
  return path;
}

beforeAll(async () => {
  base = inject("batonUrl");
  dir = mkdtempSync(join(tmpdir(), "baton-bundle-"));
  // enrol fran's passkey, as the console would
  const authenticator = await createSoftAuthenticator({ rpId: "localhost", origin: "http://localhost:8787" });
  const issued = await call("POST", "/v1/approvers/fran/enrolments", KEY.operator);
  expect(issued.status).toBe(201);
  const options = await call("POST", "/v1/enrolments/options", null, { token: issued.body.token });
  const registration = await authenticator.register(options.body.options.challenge);
  expect((await call("POST", "/v1/enrolments/complete", null, { token: issued.body.token, response: registration })).status).toBe(201);

  // a reimbursement, attested, approved with the passkey
  const params = { report: "R-2026-117", employee: "alice", total: 500, currency: "EUR" };
  const started = await call("POST", "/v1/sequences", KEY.orchestrator, { workflow: "reimbursement", params, subject: "user:alice", actor: "agent-7" });
  expect(started.status).toBe(201);
  const seq = started.body.sequence as string;
  const { "//": _comment, ...jwk } = expenseChecker;
  const attestation = await new SignJWT({ seq, stage: "gather", type: "summary_complete", facts: { report: params.report, total: params.total } })
    .setProtectedHeader({ alg: "EdDSA", typ: "baton-attestation+jwt", kid: jwk.kid })
    .setIssuer("expense-checker")
    .setIssuedAt()
    .setJti(crypto.randomUUID())
    .sign(await importJWK(jwk, "EdDSA"));
  expect((await call("POST", `/v1/sequences/${seq}/evidence`, KEY.orchestrator, { attestation })).status).toBe(202);
  const subject = (await call("GET", `/v1/sequences/${seq}`, KEY.approver)).body.next_gate.approvals.subject;
  const claims = { iss: "fran", seq, stage: subject.stage, decision: "approve" as const, digest: await approvalDigest(subject), iat: Math.floor(Date.now() / 1000), jti: crypto.randomUUID() };
  const assertion = await authenticator.assert(await passkeyApprovalChallenge(claims));
  expect((await call("POST", `/v1/sequences/${seq}/approvals`, KEY.approver, { passkey: { claims, ...assertion } })).status).toBe(200);

  const downloaded = await call("GET", `/v1/sequences/${seq}/bundle`, KEY.auditor);
  expect(downloaded.status).toBe(200);
  bundle = downloaded.body;
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("baton audit verify <bundle.json>", () => {
  it("verifies the bundle as it is: chain, replay, signed head, and the passkey approval re-verified", () => {
    const human = baton("audit", "verify", write("bundle.json", bundle));
    expect(human.code, human.stdout + human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^VALID: \d+ receipts.*1 passkey approvals re-verified.*signed head matches/m);
    expect(human.stdout).toMatch(/approval\s+gather\s+ALLOW\s+fran$/m);
    const verdict = JSON.parse(baton("audit", "verify", "bundle.json", "--json").stdout);
    expect(verdict).toMatchObject({ valid: true, passkey_approvals: 1 });
  });

  it("test_bundle_without_the_key: a credential log that lost the registration is refused (exit 1)", () => {
    const verdict = baton("audit", "verify", write("no-key.json", { ...bundle, credentials: { ...bundle.credentials, log: [] } }), "--json");
    expect(verdict.code).toBe(1);
    expect(JSON.parse(verdict.stdout).failure.reason).toMatch(/not in the credential log/);
  });

  it("test_bundle_tampered_receipt: an altered receipt breaks the chain (exit 1)", () => {
    const receipts = [...bundle.receipts];
    const last = receipts.length - 1;
    receipts[last] = `${receipts[last].slice(0, -2)}${receipts[last].endsWith("AA") ? "BB" : "AA"}`;
    expect(baton("audit", "verify", write("tampered.json", { ...bundle, receipts })).code).toBe(1);
  });

  it("an export with a passkey approval needs the credentials: refused without, valid with --credentials", () => {
    write("receipts.txt", `${bundle.receipts.join("\n")}\n`);
    write("jwks.json", bundle.jwks);
    write("credentials.json", bundle.credentials);
    const workflows = join(ROOT, "examples", "workflows");
    const without = baton("audit", "verify", "receipts.txt", "--jwks", "jwks.json", "--workflows", workflows, "--json");
    expect(without.code).toBe(1);
    expect(JSON.parse(without.stdout).failure.reason).toMatch(/no credentials to verify it/);
    const withCredentials = baton("audit", "verify", "receipts.txt", "--jwks", "jwks.json", "--workflows", workflows, "--credentials", "credentials.json");
    expect(withCredentials.code, withCredentials.stdout).toBe(0);
  });

  it("a bundle that is not one exits 2", () => {
    expect(baton("audit", "verify", write("junk.json", { receipts: "nope" })).code).toBe(2);
    expect(baton("audit", "verify", write("nojwks.json", { ...bundle, jwks: {} })).code).toBe(2);
  });
});
