import { exports } from "cloudflare:workers";
import { SignJWT, decodeJwt, importJWK } from "jose";
import backupCheckerKey from "../examples/keys/backup-checker.private.jwk.json";
import ciKey from "../examples/keys/ci.private.jwk.json";
import citationCheckerKey from "../examples/keys/citation-checker.private.jwk.json";
import monitorKey from "../examples/keys/monitor.private.jwk.json";
import { signApproval } from "../src/tokens/approval-signing.js";
import type { ReceiptClaims } from "../src/tokens/receipt.js";
import alice from "../examples/keys/approvers/alice.private.jwk.json";
import felix from "../examples/keys/approvers/felix.private.jwk.json";
import fran from "../examples/keys/approvers/fran.private.jwk.json";
import sam from "../examples/keys/approvers/sam.private.jwk.json";
import sasha from "../examples/keys/approvers/sasha.private.jwk.json";
import sol from "../examples/keys/approvers/sol.private.jwk.json";
import expenseCheckerKey from "../examples/keys/expense-checker.private.jwk.json";
import quorumFixture from "./fixtures/approvers.json";
import orchestratorApprover from "./fixtures/orchestrator-approver.json";

/** API keys of the example clients (examples/dev-credentials.json) and the test-only ones. */
export const KEY = {
  orchestrator: "dev-orchestrator-key",
  limitedOrchestrator: "test-orchestrator-limited-key",
  agent: "dev-agent-key",
  agent2: "test-agent-2-key",
  deployer: "dev-tool-deployer-key",
  db: "dev-tool-db-key",
  ci: "dev-tool-ci-key",
  reviewBot: "dev-tool-review-bot-key",
  attester: "dev-attester-key",
  auditor: "dev-auditor-key",
  approvals: "dev-approver-key",
  expenses: "dev-tool-expenses-key",
  payments: "dev-tool-payments-key",
  observability: "dev-tool-observability-key",
  runtime: "dev-tool-runtime-key",
  warehouse: "dev-tool-warehouse-key",
  model: "dev-tool-model-key",
  dashboard: "dev-tool-dashboard-key",
  web: "dev-tool-web-key",
  operator: "dev-operator-key",
} as const;

export interface ApiResult<T = Record<string, unknown>> {
  status: number;
  body: T;
  headers: Headers;
}

/** Calls the Worker under test (same isolate, real Durable Objects). */
export async function api<T = Record<string, any>>(
  method: string,
  path: string,
  options: { key?: string; body?: unknown; headers?: Record<string, string>; raw?: BodyInit } = {},
): Promise<ApiResult<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key) headers.authorization = `Bearer ${options.key}`;
  let body: BodyInit | undefined = options.raw;
  if (options.body !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(options.body);
  }
  const response = await exports.default.fetch(`https://baton.test${path}`, { method, headers, body });
  const text = new TextDecoder().decode(await response.arrayBuffer());
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // The receipts export (one compact JWS per line) and HTML stay text.
  }
  return { status: response.status, body: parsed as T, headers: response.headers };
}

export const PARAMS = {
  deployment: { service: "checkout", version: "2.4.1" },
  "data-migration": { table: "orders", backup: "orders-2026-11-22" },
  "code-review": { repo: "acme/shop", pr: 42, commit: "0123456789abcdef0123456789abcdef01234567" },
  "short-lived": { ticket: "T-1" },
  "two-keys": { limit: 100 },
  reimbursement: { report: "R-2026-117", employee: "alice", total: 500, currency: "EUR" },
  "incident-response": { incident: "INC-42", service: "checkout" },
  "approvals-short": { ticket: "T-2" },
  quorum: { ticket: "T-3" },
  budget: { limit: 500 },
  delegating: { limit: 100 },
  "delegating-staged": { limit: 100 },
  "outcome-gated": { ticket: "T-4" },
  "report-publication": { dataset: "patients-2026", dashboard: "public-stats" },
  "research-brief": { topic: "grid-scale storage", sources: ["apnews.com", "reuters.com", "arxiv.org", "nature.com"] },
  "report-publication-unguarded": { dataset: "patients-2026", dashboard: "public-stats" },
  "signal-required": { ticket: "T-5" },
} as const;

export type WorkflowId = keyof typeof PARAMS;

export interface Started {
  seq: string;
  capability: string;
  receipt: string;
}

export async function start(
  workflow: WorkflowId,
  options: { key?: string; headers?: Record<string, string>; params?: Record<string, unknown>; body?: Record<string, unknown> } = {},
): Promise<Started> {
  const result = await api("POST", "/v1/sequences", {
    key: options.key ?? KEY.orchestrator,
    headers: options.headers,
    body: { workflow, params: options.params ?? PARAMS[workflow], subject: "user:alice", actor: "agent-7", ...options.body },
  });
  if (result.status !== 201) throw new Error(`start failed: ${result.status} ${JSON.stringify(result.body)}`);
  return { seq: result.body.sequence, capability: result.body.capability, receipt: result.body.receipt };
}

export function redeem(key: string, token: string, action: string, args: Record<string, unknown> = {}) {
  return api("POST", "/v1/redeem", { key, body: { token, action, args } });
}

export function submitEvidence(seq: string, attestation: string, key: string = KEY.agent, headers?: Record<string, string>) {
  return api("POST", `/v1/sequences/${seq}/evidence`, { key, body: { attestation }, headers });
}

export function describe_(seq: string, key: string = KEY.auditor) {
  return api("GET", `/v1/sequences/${seq}`, { key });
}

export async function receipts(seq: string, key: string = KEY.auditor): Promise<string[]> {
  const result = await api<string>("GET", `/v1/sequences/${seq}/receipts`, { key });
  if (result.status !== 200) throw new Error(`export failed: ${result.status}`);
  return result.body.split("\n").filter((line) => line.length > 0);
}

export function claimsOf(receipt: string): ReceiptClaims {
  return decodeJwt(receipt) as unknown as ReceiptClaims;
}

const ATTESTER_KEYS = {
  monitor: monitorKey,
  "backup-checker": backupCheckerKey,
  ci: ciKey,
  "expense-checker": expenseCheckerKey,
  "citation-checker": citationCheckerKey,
} as const;
export type AttesterId = keyof typeof ATTESTER_KEYS;

export interface AttestationOptions {
  attester?: AttesterId;
  seq: string;
  stage: string;
  type: string;
  facts?: Record<string, unknown>;
  iat?: number;
  jti?: string;
  /** Overrides of the claims (e.g. another iss) and of the protected header. */
  claims?: Record<string, unknown>;
  header?: Record<string, unknown>;
}

/** Signs an attestation with an example attester's published development key. */
export async function attest(options: AttestationOptions): Promise<string> {
  const { "//": _comment, ...jwk } = ATTESTER_KEYS[options.attester ?? "monitor"];
  const key = await importJWK(jwk, "EdDSA");
  return new SignJWT({
    iss: options.attester ?? "monitor",
    seq: options.seq,
    stage: options.stage,
    type: options.type,
    facts: options.facts ?? {},
    iat: options.iat ?? Math.floor(Date.now() / 1000),
    jti: options.jti ?? crypto.randomUUID(),
    ...options.claims,
  })
    .setProtectedHeader({ alg: "EdDSA", typ: "baton-attestation+jwt", kid: jwk.kid, ...options.header })
    .sign(key);
}

export function publicJwkOf(attester: AttesterId) {
  const { "//": _comment, d: _d, ...jwk } = ATTESTER_KEYS[attester];
  return jwk;
}

/** State that a denial must leave untouched: everything of the sequence but its receipt count. */
export async function ledgerState(seq: string) {
  const { body } = await describe_(seq);
  const { head: _head, signed_head: _signed, ...rest } = body;
  return rest;
}

/**
 * Private keys of the example approvers, of the twenty test approvers (q01..q20, group
 * quorum) and of `orchestrator` (group quorum): an approver whose id is the example
 * orchestrator's client id, so the orchestrator of a sequence can try to approve it.
 */
export const APPROVER_KEYS: Record<string, Record<string, unknown>> = {
  alice,
  felix,
  fran,
  sam,
  sasha,
  sol,
  ...Object.fromEntries(quorumFixture.approvers.map((key) => [key.approver, key])),
  [orchestratorApprover.approver]: orchestratorApprover,
};

/** What the pending gate asks approvers to approve (GET /v1/sequences/:id). */
export async function approvalRequest(seq: string) {
  const { body } = await describe_(seq);
  return body.next_gate?.approvals;
}

export interface ApprovalOptions {
  decision?: "approve" | "reject";
  /** Sign this subject instead of the one Baton shows (to move an approval elsewhere). */
  subject?: Record<string, any>;
  /** Sign with this approver's key while naming another (`iss`). */
  as?: string;
  iat?: number;
  exp?: number;
  jti?: string;
}

/** Signs an approval exactly as the approver CLI does (src/tokens/approval-signing.ts). */
export async function signedApproval(seq: string, approver: string, options: ApprovalOptions = {}): Promise<string> {
  const subject = options.subject ?? (await approvalRequest(seq))?.subject;
  if (!subject) throw new Error(`sequence ${seq} shows nothing to approve`);
  const privateJwk = APPROVER_KEYS[approver];
  if (!privateJwk) throw new Error(`no key for approver ${approver}`);
  return signApproval({
    privateJwk: privateJwk as never,
    approver: options.as ?? approver,
    subject: subject as never,
    decision: options.decision,
    iat: options.iat,
    exp: options.exp,
    jti: options.jti,
  });
}

export function submitApproval(seq: string, approval: string, key: string = KEY.approvals) {
  return api("POST", `/v1/sequences/${seq}/approvals`, { key, body: { approval } });
}

export async function approve(seq: string, approver: string, options: ApprovalOptions = {}) {
  return submitApproval(seq, await signedApproval(seq, approver, options));
}

/** Baton's published keys as a lookup for offline receipt-chain verification. */
export async function jwksLookup() {
  const { body } = await api("GET", "/.well-known/jwks.json");
  const keys = new Map<string, { key: CryptoKey; alg: string }>();
  for (const jwk of body.keys) keys.set(jwk.kid, { key: (await importJWK(jwk, jwk.alg)) as CryptoKey, alg: jwk.alg });
  return (kid: string) => keys.get(kid);
}

export function reportOutcome(key: string, receipt: string, outcome: "succeeded" | "failed" | "unknown", detail?: string) {
  return api("POST", "/v1/outcomes", { key, body: { receipt, outcome, ...(detail ? { detail } : {}) } });
}

/** Polls `probe` until it answers something other than undefined (tries × every ms), or fails naming `what`. */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, every = 50, tries = 100): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const found = await probe();
    if (found !== undefined) return found;
    await new Promise((resolve) => setTimeout(resolve, every));
  }
  throw new Error(`timed out waiting for ${what}`);
}
