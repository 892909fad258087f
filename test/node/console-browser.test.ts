import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { base64url, exportJWK, generateKeyPair } from "jose";
import { type Browser, type Page, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalJson } from "../../src/tokens/digest.js";
import { verifyPasskeyApproval } from "../../src/tokens/passkey.js";
import { attest, personAt, startBaton } from "./console-harness.js";

// The console in Debian's Chromium against a real Baton (`wrangler dev`): approvers enrol a
// passkey from the operator's link, sign in with it, and approve or reject from the detail page,
// whose digest the page recomputes itself. CDP virtual authenticators stand in for the people's
// devices, one browser profile each. RECORD_SCREENSHOTS=1 saves the pages shown in the README.
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const skip = process.env.SKIP_BROWSER_TESTS === "1";
const SCREENSHOTS = new URL("../../examples/screenshots/", import.meta.url);

type Json = Record<string, any>;

describe.skipIf(skip)("the console in headless Chromium: passkey enrolment, sign-in, approvals", () => {
  let baton: { origin: string; stop: () => void };
  let api: string;
  let browser: Browser;
  const people = new Map<string, Page>();
  /** The reimbursement fran approved, for the timeline and the audit. */
  let paid = "";

  const call = async (method: string, path: string, key: string, body?: unknown) => {
    const response = await fetch(`${api}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    let json: Json = {};
    try {
      json = JSON.parse(text);
    } catch {
      json = { text };
    }
    return { status: response.status, json };
  };
  const status = (page: Page) => page.locator("#status").textContent();
  const waitStatus = (page: Page, pattern: RegExp) => page.waitForFunction((source) => new RegExp(source).test(document.getElementById("status")?.textContent ?? ""), pattern.source, { timeout: 15_000 });

  const enrolmentLinks = new Map<string, string>();
  /** Each person's sign-in request body (the assertion), for the replay attack. */
  const signIns = new Map<string, string>();

  async function enrolAndSignIn(approver: string, signedInAt = `${baton.origin}/console`): Promise<Page> {
    const page = await personAt(browser);
    const issued = await call("POST", `/v1/approvers/${approver}/enrolments`, "dev-operator-key");
    expect(issued.status).toBe(201);
    enrolmentLinks.set(approver, issued.json.enrolment_url);
    await page.goto(issued.json.enrolment_url);
    await page.getByRole("button", { name: "Register a passkey" }).click();
    await waitStatus(page, /Passkey enrolled for/);
    await page.goto(`${baton.origin}/console`);
    page.on("request", (request) => {
      if (request.url().endsWith("/console/api/sign-in")) signIns.set(approver, request.postData() ?? "");
    });
    await page.getByRole("button", { name: "Sign in with a passkey" }).click();
    await page.waitForURL(`${signedInAt}**`);
    await page.waitForSelector(`text=Signed in as ${approver}`);
    people.set(approver, page);
    return page;
  }

  async function reimbursement(report: string): Promise<string> {
    const started = await call("POST", "/v1/sequences", "dev-orchestrator-key", {
      workflow: "reimbursement",
      params: { report, employee: "alice", total: 500, currency: "EUR" },
      subject: "user:alice",
      actor: "agent-7",
    });
    expect(started.status).toBe(201);
    const seq = started.json.sequence as string;
    const summary = attest({ attester: "expense-checker", seq, stage: "gather", type: "summary_complete", facts: { report, total: 500 } });
    const escalated = await call("POST", `/v1/sequences/${seq}/evidence`, "dev-agent-key", { attestation: summary });
    expect(escalated.json.decision).toBe("ESCALATE");
    return seq;
  }

  /** Opens the detail page and waits for the browser's own digest check. */
  async function openDetail(page: Page, seq: string) {
    await page.goto(`${baton.origin}/console/sequences/${seq}`);
    await page.waitForSelector("body[data-ready='1']");
    return page.locator("#digest-check").textContent();
  }

  async function decide(page: Page, seq: string, button: "Approve with passkey" | "Reject with passkey") {
    expect(await openDetail(page, seq)).toMatch(/matches the ledger's/);
    await page.getByRole("button", { name: button }).click();
    await page.waitForFunction(() => !document.getElementById("receipt")?.hidden, undefined, { timeout: 15_000 });
    return { status: await status(page), receipt: JSON.parse((await page.locator("#receipt").textContent()) ?? "null") as Json };
  }

  /** Submits a passkey form from the page, as its script would (for the attacks). */
  const submitFrom = (page: Page, seq: string, form: unknown) =>
    page.evaluate(([s, f]) => (window as any).batonConsole.submit(s, f), [seq, form] as const) as Promise<{ status: number; json: Json }>;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH; SKIP_BROWSER_TESTS=1 skips)`);
    baton = await startBaton();
    api = baton.origin.replace("localhost", "127.0.0.1");
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--host-resolver-rules=MAP localhost 127.0.0.1"],
    });
  });

  afterAll(async () => {
    await browser?.close();
    baton?.stop();
  });

  it("enrols approvers from the operator's one-time links and signs them in with their passkeys", async () => {
    for (const approver of ["fran", "alice", "felix", "sam", "sasha", "sol"]) await enrolAndSignIn(approver);
    const page = people.get("fran") as Page;
    // HttpOnly: the session cookie is not readable by the page's script.
    expect(await page.evaluate(() => document.cookie)).toBe("");
    const cookie = (await page.context().cookies()).find((c) => c.name === "baton-console");
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: "Strict" });
    // The enrolment link is one-time: opened again, it is refused.
    await page.goto(enrolmentLinks.get("fran") as string);
    await page.getByRole("button", { name: "Register a passkey" }).click();
    await waitStatus(page, /REPLAY_NONCE/);
  }, 120_000);

  it("approves the reimbursement walkthrough's payment (1 of 1) with a passkey; the requester's own passkey is refused", async () => {
    const seq = await reimbursement("R-2026-117");
    paid = seq;
    const fran = people.get("fran") as Page;
    // The queue (the sequence index follows the ledger within moments).
    await expect.poll(async () => {
      await fran.goto(`${baton.origin}/console`);
      return fran.locator(`a[href="/console/sequences/${seq}"]`).count();
    }, { timeout: 15_000 }).toBe(1);

    const alice = await decide(people.get("alice") as Page, seq, "Approve with passkey");
    // Separation of duties: alice is the requester (the gate excludes the subject).
    expect(alice.receipt.error?.code, alice.status ?? "").toBe("EVIDENCE_INVALID");
    expect(alice.status).toMatch(/separation of duties/);

    if (process.env.RECORD_SCREENSHOTS === "1") {
      mkdirSync(SCREENSHOTS, { recursive: true });
      await openDetail(fran, seq);
      await fran.setViewportSize({ width: 420, height: 1400 });
      await fran.screenshot({ path: new URL("approver-detail.png", SCREENSHOTS).pathname, fullPage: true });
    }
    const approved = await decide(fran, seq, "Approve with passkey");
    expect(approved.receipt.decision, JSON.stringify(approved.receipt)).toBe("ALLOW");
    expect(approved.status).toMatch(/^Approved/);
    const state = await call("GET", `/v1/sequences/${seq}`, "dev-auditor-key");
    expect(state.json.stage.id).toBe("pay");

    // Replayed: the same assertion again is refused (its jti is spent).
    const form = await fran.evaluate(() => (window as any).batonConsole.lastForm);
    const replayed = await submitFrom(fran, seq, form);
    expect(replayed.json.error.code).toBe("REPLAY_NONCE");

    // The chain carries the assertion, and it re-verifies offline with the enrolled public key.
    const receipts = await fetch(`${api}/v1/sequences/${seq}/receipts`, { headers: { authorization: "Bearer dev-auditor-key" } }).then((r) => r.text());
    const claims = receipts.trim().split("\n").map((jws) => JSON.parse(new TextDecoder().decode(base64url.decode(jws.split(".")[1] as string))));
    const carried = claims.map((c) => JSON.stringify(c)).find((c) => c.includes(form.authenticator_data));
    expect(carried, "a receipt keeps fran's assertion").toBeDefined();
    const credentials = await call("GET", "/v1/approvers/credentials", "dev-auditor-key");
    const enrolled = credentials.json.credentials.find((c: Json) => c.credential_id === form.credential_id);
    const offline = await verifyPasskeyApproval(form, {
      credential: { id: enrolled.credential_id, publicKey: enrolled.public_key, counter: 0 },
      expectedOrigin: baton.origin,
      expectedRpId: "localhost",
    });
    expect(offline.ok).toBe(true);
  }, 60_000);

  it("the page's RFC 8785 canonicalization writes what the ledger's does, for every shape a subject holds", async () => {
    const values = [
      { b: 1, a: [true, false, null], "é": "ü", "\u20ac": "€", A: { z: 0.1, y: -0, x: 1e21, w: 1e-7, v: 123456789012 } },
      { params: { amount: 500.5, note: "line\nbreak \"quoted\" \u0001 \ud83d\ude00", nested: [{ k: [] }, {}] } },
      ["", 0, -1.5, "\u2028"],
    ];
    const page = people.get("fran") as Page;
    const inBrowser = await page.evaluate((v) => v.map((x) => (window as any).batonConsole.canonical(x)), values);
    expect(inBrowser).toEqual(values.map((v) => canonicalJson(v)));
  });

  it("a rejection with a passkey shuts the gate", async () => {
    const seq = await reimbursement("R-2026-118");
    const rejected = await decide(people.get("felix") as Page, seq, "Reject with passkey");
    expect(rejected.status).toMatch(/^Rejected: APPROVAL_DENIED/);
    expect(rejected.receipt.error.code).toBe("APPROVAL_DENIED");
    const state = await call("GET", `/v1/sequences/${seq}`, "dev-auditor-key");
    expect(state.json.next_gate.approvals.rejected).not.toBeNull();
  }, 60_000);

  it("approves a 2-of-3 restart; an assertion for another digest is refused", async () => {
    const started = await call("POST", "/v1/sequences", "dev-orchestrator-key", {
      workflow: "incident-response",
      params: { incident: "INC-7", service: "checkout" },
      subject: "service:checkout",
      actor: "agent-7",
      // The restart is sender-constrained: the agent's key (its capability needs DPoP; this test stops at the gate).
      actor_jwk: { ...(await exportJWK((await generateKeyPair("ES256")).publicKey)), kid: "agent-7-console-test", alg: "ES256" },
    });
    expect(started.status, JSON.stringify(started.json)).toBe(201);
    const seq = started.json.sequence as string;
    const plan = attest({ attester: "monitor", seq, stage: "diagnose", type: "remediation_plan", facts: { incident: "INC-7", service: "checkout", action: "restart" } });
    expect((await call("POST", `/v1/sequences/${seq}/evidence`, "dev-agent-key", { attestation: plan })).json.decision).toBe("ESCALATE");

    const first = await decide(people.get("sam") as Page, seq, "Approve with passkey");
    expect(first.receipt.decision).toBe("ESCALATE");

    // sasha's passkey signs claims for another digest: the assertion verifies, the gate refuses it.
    const sasha = people.get("sasha") as Page;
    await openDetail(sasha, seq);
    const other = await sasha.evaluate(async (s) => {
      const now = Math.floor(Date.now() / 1000);
      const claims = { iss: "sasha", seq: s, stage: "diagnose", decision: "approve", digest: "A".repeat(43), jti: crypto.randomUUID(), iat: now, exp: now + 300 };
      const bc = (window as any).batonConsole;
      return bc.submit(s, await bc.sign(claims));
    }, seq);
    expect(other.json.error.code).toBe("EVIDENCE_INVALID");

    const second = await decide(sasha, seq, "Approve with passkey");
    expect(second.receipt.decision).toBe("ALLOW");
  }, 60_000);

  it("refuses console requests without a session, without the CSRF token, or from another origin", async () => {
    const seq = "0".repeat(64);
    const body = JSON.stringify({ passkey: {} });
    const noSession = await fetch(`${api}/console/api/sequences/${seq}/approvals`, { method: "POST", headers: { "content-type": "application/json", origin: baton.origin }, body });
    expect(noSession.status).toBe(400); // the form is checked first; a well-formed one:
    const fran = people.get("fran") as Page;
    const form = await fran.evaluate(() => (window as any).batonConsole.lastForm);
    const wellFormed = JSON.stringify({ passkey: form });
    const anonymous = await fetch(`${api}/console/api/sequences/${form.claims.seq}/approvals`, { method: "POST", headers: { "content-type": "application/json", origin: baton.origin }, body: wellFormed });
    expect(anonymous.status).toBe(401);
    expect((await anonymous.json()).error.code).toBe("UNAUTHENTICATED");
    // In fran's browser, with her session cookie but no CSRF header: refused.
    const noCsrf = await fran.evaluate(async ([s, b]) => {
      const r = await fetch(`/console/api/sequences/${s}/approvals`, { method: "POST", headers: { "content-type": "application/json" }, body: b });
      return { status: r.status, json: await r.json() };
    }, [form.claims.seq, wellFormed] as const);
    expect(noCsrf.status).toBe(403);
    expect(noCsrf.json.error.message).toMatch(/CSRF/);
    // A sign-in assertion replayed: its challenge was consumed by the first use.
    const replayedSignIn = await fetch(`${api}/console/api/sign-in`, { method: "POST", headers: { "content-type": "application/json", origin: baton.origin }, body: signIns.get("fran") });
    expect(replayedSignIn.status).toBe(401);
    expect((await replayedSignIn.json()).error.code).toBe("TOKEN_INVALID");
    expect(replayedSignIn.headers.get("set-cookie")).toBeNull();
    // A forged session cookie signs no one in.
    const forged = await fetch(`${api}/console/api/sequences/${form.claims.seq}/approvals`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: baton.origin, cookie: `baton-console=${"A".repeat(43)}` },
      body: wellFormed,
    });
    expect(forged.status).toBe(401);
    // Sign-in itself needs the console's origin.
    const foreign = await fetch(`${api}/console/api/sign-in/options`, { method: "POST", headers: { origin: "https://evil.example" } });
    expect(foreign.status).toBe(403);
    // Malformed sign-ins are refused with a code, never a 500.
    for (const bad of ["{", JSON.stringify({ response: { id: "!!" } }), JSON.stringify({ response: { id: "AA", rawId: "AA", type: "public-key", response: { authenticatorData: "AA", clientDataJSON: "AA", signature: "AA" } } })]) {
      const refused = await fetch(`${api}/console/api/sign-in`, { method: "POST", headers: { "content-type": "application/json", origin: baton.origin }, body: bad });
      expect([400, 401], bad).toContain(refused.status);
    }
    // The pages' CSP: own script only, never framed.
    const csp = (await fetch(`${api}/console`)).headers.get("content-security-policy") ?? "";
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain("unsafe-inline");
    // A detail page without a session sends the person to sign in.
    const page = await fetch(`${api}/console/sequences/${form.claims.seq}`, { redirect: "manual" });
    expect(page.status).toBe(303);
  }, 60_000);

  it("after the operator revokes a passkey, it signs no one in", async () => {
    const credentials = await call("GET", "/v1/approvers/credentials", "dev-auditor-key");
    const sol = credentials.json.credentials.find((c: Json) => c.approver === "sol" && c.revoked_at === null);
    const revoked = await call("POST", `/v1/approvers/sol/credentials/${sol.credential_id}/revoke`, "dev-operator-key", { reason: "device lost" });
    expect(revoked.status).toBe(200);
    const page = await personAt(browser);
    const again = people.get("sol") as Page;
    // The session sol made with that passkey ends with it.
    await again.goto(`${baton.origin}/console`);
    await again.waitForSelector("text=Sign in with a passkey");
    await again.context().clearCookies();
    await again.goto(`${baton.origin}/console`);
    await again.getByRole("button", { name: "Sign in with a passkey" }).click();
    await waitStatus(again, /UNAUTHENTICATED/);
    await page.close();
  }, 60_000);
  it("an orchestrator and an auditor sign in with passkeys enrolled for their client ids: sequences, timeline, revoke, receipts for the audit", async () => {
    const orchestrator = await enrolAndSignIn("orchestrator", `${baton.origin}/console/sequences`);
    const auditor = await enrolAndSignIn("auditor", `${baton.origin}/console/sequences`);
    // A client's passkey never approves: its session is refused at the approval route.
    const form = await (people.get("fran") as Page).evaluate(() => (window as any).batonConsole.lastForm);
    await auditor.goto(`${baton.origin}/console/sequences`);
    expect((await submitFrom(auditor, form.claims.seq, form)).json.error.code).toBe("FORBIDDEN");

    // Filters: the reimbursements only.
    await orchestrator.goto(`${baton.origin}/console/sequences`);
    await orchestrator.getByLabel("Workflow").fill("reimbursement");
    await orchestrator.getByRole("button", { name: "Filter" }).click();
    await orchestrator.waitForURL(/workflow=reimbursement/);
    const workflows = await orchestrator.locator("#sequences td:first-child").allTextContents();
    expect(workflows.length).toBeGreaterThanOrEqual(2);
    expect(new Set(workflows)).toEqual(new Set(["reimbursement"]));

    // The auditor's timeline of the paid reimbursement: fran's passkey approval, decoded on the server.
    await auditor.goto(`${baton.origin}/console/sequences/${paid}/timeline`);
    const rows = (await auditor.locator("#timeline tr").allTextContents()).map((r) => r.replace(/\s+/g, " "));
    expect(rows.some((r) => /approval \(passkey\).*ALLOW.*fran/.test(r)), rows.join("\n")).toBe(true);
    expect(rows.some((r) => /approval.*EVIDENCE_INVALID.*alice/.test(r)), rows.join("\n")).toBe(true);
    if (process.env.RECORD_SCREENSHOTS === "1") {
      await auditor.setViewportSize({ width: 900, height: 900 });
      await auditor.screenshot({ path: new URL("timeline.png", SCREENSHOTS).pathname, fullPage: true });
    }
    // The evidence bundle as the auditor downloads it, verified offline by `baton audit verify`:
    // the chain, and fran's passkey assertion re-verified from the receipt and her enrolled key.
    const href = (await auditor.getByRole("link", { name: "Download the evidence bundle" }).getAttribute("href")) as string;
    const bundle = await auditor.evaluate(async (h) => (await fetch(h)).text(), href);
    const dir = mkdtempSync(join(tmpdir(), "baton-console-audit-"));
    try {
      writeFileSync(join(dir, "bundle.json"), bundle);
      const root = new URL("../../", import.meta.url).pathname;
      const verify = (...extra: string[]) =>
        spawnSync(process.execPath, [join(root, "src/cli/baton.mjs"), "audit", "verify", "bundle.json", ...extra], { cwd: dir, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
      const human = verify();
      expect(human.status, human.stdout + human.stderr).toBe(0);
      // Three receipts carry an assertion: alice's (refused for separation of duties), fran's, and fran's replay.
      expect(human.stdout).toMatch(/VALID: [^\n]*3 passkey approvals re-verified/);
      expect(JSON.parse(verify("--json").stdout)).toMatchObject({ valid: true, passkey_approvals: 3 });
      // Without the signed credential log, fran's key is vouched for by nothing: not verified.
      writeFileSync(join(dir, "bundle.json"), JSON.stringify({ ...JSON.parse(bundle), credentials: { ...JSON.parse(bundle).credentials, log: [] } }));
      expect(verify().status).not.toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }

    // The orchestrator revokes a sequence it started, with a reason and a confirmation.
    const seq = await reimbursement("R-2026-119");
    await orchestrator.goto(`${baton.origin}/console/sequences/${seq}/timeline`);
    orchestrator.once("dialog", (dialog) => dialog.dismiss());
    await orchestrator.getByLabel("Reason").fill("duplicate report");
    await orchestrator.getByRole("button", { name: "Revoke this sequence…" }).click();
    await waitStatus(orchestrator, /Not revoked/);
    expect((await call("GET", `/v1/sequences/${seq}`, "dev-auditor-key")).json.status).toBe("active");
    orchestrator.once("dialog", (dialog) => dialog.accept());
    await orchestrator.getByRole("button", { name: "Revoke this sequence…" }).click();
    await waitStatus(orchestrator, /^Revoked/);
    const state = await call("GET", `/v1/sequences/${seq}`, "dev-auditor-key");
    expect(state.json.status).toBe("sealed");
    // The auditor may read, never revoke: the ledger refuses the auditor's session as it refuses the auditor's key.
    const byAuditor = await auditor.evaluate(async (s) => {
      const csrf = document.querySelector<HTMLMetaElement>('meta[name="baton-csrf"]')?.content ?? "";
      const r = await fetch(`/console/api/sequences/${s}/revoke`, { method: "POST", headers: { "content-type": "application/json", "x-baton-csrf": csrf }, body: JSON.stringify({ reason: "x" }) });
      return r.status;
    }, paid);
    expect(byAuditor).toBe(403);
  }, 90_000);
  it("an operator signs in with a passkey for its client id and handles signals through the analyst", async () => {
    const ops = await enrolAndSignIn("ops", `${baton.origin}/console/sequences`);
    await ops.goto(`${baton.origin}/console/signals?actor=agent-7`);
    await ops.waitForSelector("#signals");
    const act = (id: string, body: unknown, csrf = true) =>
      ops.evaluate(
        async ([i, b, withCsrf]) => {
          const token = document.querySelector<HTMLMetaElement>('meta[name="baton-csrf"]')?.content ?? "";
          const r = await fetch(`/console/api/signals/${i}/acknowledge`, { method: "POST", headers: { "content-type": "application/json", ...(withCsrf ? { "x-baton-csrf": token } : {}) }, body: JSON.stringify(b) });
          return { status: r.status, json: await r.json() };
        },
        [id, body, csrf] as const,
      );
    // The analyst answers for the operator's session as for the operator's key.
    expect((await act("sig_unknown", { actor: "agent-7" })).json.error.code).toBe("UNKNOWN_SEQUENCE");
    expect((await act("sig_unknown", { actor: "agent-7" }, false)).status).toBe(403);
    // A real signal: the report-publication flow (restricted read → summary → public dashboard)
    // raises flow.restricted-to-public for a fresh actor; the operator acknowledges it, then
    // clears it, with the page's own buttons, and the analyst's listing shows each change.
    const actor = `console-analyst-${crypto.randomUUID().slice(0, 8)}`;
    const flow = { workflow: "report-publication", params: { dataset: "patients-2026", dashboard: "public-stats" }, subject: "user:dana", actor };
    const started = await call("POST", "/v1/sequences", "dev-orchestrator-key", flow);
    expect(started.status).toBe(201);
    const read = await call("POST", "/v1/redeem", "dev-tool-warehouse-key", { token: started.json.capability, action: "records.read", args: { dataset: "patients-2026" } });
    expect(read.json.decision).toBe("ALLOW");
    const summarise = await call("POST", "/v1/outcomes", "dev-tool-warehouse-key", { receipt: read.json.receipt, outcome: "succeeded" });
    const summary = await call("POST", "/v1/redeem", "dev-tool-model-key", { token: summarise.json.capability, action: "summary.create", args: {} });
    const publish = await call("POST", "/v1/outcomes", "dev-tool-model-key", { receipt: summary.json.receipt, outcome: "succeeded" });
    const published = await call("POST", "/v1/redeem", "dev-tool-dashboard-key", { token: publish.json.capability, action: "dashboard.publish", args: { dashboard: "public-stats" } });
    expect(published.json).toMatchObject({ decision: "ALLOW", sealed: true });
    const signalOf = async () =>
      ((await call("GET", `/v1/signals?actor=${actor}`, "dev-operator-key")).json.signals as Json[]).find((x) => x.detector === "flow.restricted-to-public");
    let raised: Json | undefined;
    for (let i = 0; i < 100 && !raised; i++) {
      raised = await signalOf();
      if (!raised) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(raised?.status).toBe("active");
    const blocked = await call("POST", "/v1/sequences", "dev-orchestrator-key", flow);
    const refusedRead = await call("POST", "/v1/redeem", "dev-tool-warehouse-key", { token: blocked.json.capability, action: "records.read", args: { dataset: "patients-2026" } });
    expect(refusedRead.json.error?.code).toBe("SIGNAL_BLOCKED");
    await ops.goto(`${baton.origin}/console/signals?actor=${actor}`);
    await ops.click(`button[data-signal="${raised?.id}"][data-action="acknowledge"]`);
    await ops.waitForFunction((id) => document.querySelector(`button[data-signal="${id}"]`)?.closest("tr")?.textContent?.includes("acknowledged"), raised?.id);
    expect((await signalOf())?.status).toBe("acknowledged");
    await ops.click(`button[data-signal="${raised?.id}"][data-action="clear"]`);
    await ops.waitForFunction((id) => !document.querySelector(`button[data-signal="${id}"]`), raised?.id);
    expect((await signalOf())?.status).toBe("cleared");
    // Cleared, the signal no longer blocks the first step of the actor's next flow.
    const again = await call("POST", "/v1/sequences", "dev-orchestrator-key", flow);
    const unblocked = await call("POST", "/v1/redeem", "dev-tool-warehouse-key", { token: again.json.capability, action: "records.read", args: { dataset: "patients-2026" } });
    expect(unblocked.json.decision).toBe("ALLOW");

    // An operator's session approves nothing.
    const form = await (people.get("fran") as Page).evaluate(() => (window as any).batonConsole.lastForm);
    expect((await submitFrom(ops, form.claims.seq, form)).json.error.code).toBe("FORBIDDEN");
  }, 60_000);
});
