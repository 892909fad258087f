import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import reimbursement from "../examples/workflows/reimbursement.json";
import { replayChain } from "../src/audit/replay.js";
import { verifiedShadowEntry } from "../src/audit/shadow-report.js";
import { verifyReceiptChain } from "../src/audit/verify-chain.js";
import { loadConfig } from "../src/config/load.js";
import { compileWorkflow } from "../src/policy/compile.js";
import type { ReceiptClaims } from "../src/tokens/receipt.js";
import { LOOSE, PROMOTED_BEFORE, PROMOTED_FROM, TIGHT, gated } from "./fixtures/shadow.mjs";
import { type ApiResult, KEY, api, approve, attest, claimsOf, jwksLookup, receipts, redeem, submitEvidence } from "./helpers.js";

// Shadow mode (README: Shadow mode), through the Worker and real Durable Objects: a candidate
// version decides every decision of a sequence beside the enforced one; the receipt records
// it, the enforced decision alone counts, and GET /v1/workflows/:id/shadow lists the flips.

const TICKET = { ticket: "T-9" };

async function startSequence(workflow: string, params: Record<string, unknown> = TICKET) {
  const started = await api("POST", "/v1/sequences", { key: KEY.orchestrator, body: { workflow, params, subject: "user:alice", actor: "agent-7" } });
  expect(started.status, JSON.stringify(started.body)).toBe(201);
  return { seq: started.body.sequence as string, capability: started.body.capability as string, receipt: started.body.receipt as string };
}

/**
 * One script for every version of the gated workflow (test/fixtures/shadow.mjs): reads of 5,
 * 50, 150 and 30 rows, a review of risk 4 (and of risk 1 when that did not open the apply
 * stage), then the apply, which seals. Receipts: 0 start, 1..4 reads, 5 the review, …
 */
async function runScript(workflow: string) {
  const { seq, capability } = await startSequence(workflow);
  for (const rows of [5, 50, 150, 30]) await redeem(KEY.db, capability, "db.read", { rows });
  const review = (risk: number) => attest({ seq, stage: "read", type: "plan_reviewed", facts: { risk } });
  let opened: ApiResult = await submitEvidence(seq, await review(4));
  if (!opened.body.capability) opened = await submitEvidence(seq, await review(1));
  expect(opened.status, JSON.stringify(opened.body)).toBe(200);
  const applied = await redeem(KEY.deployer, opened.body.capability as string, "deploy.apply", {});
  expect(applied.body.sealed).toBe(true);
  const jws = await receipts(seq);
  return { seq, jws, chain: jws.map(claimsOf) };
}

/** What enforcement decided, receipt by receipt: everything but the ids, jtis and digests a run draws afresh. */
const enforcement = (chain: readonly ReceiptClaims[]) =>
  chain.map((r) => ({ n: r.n, kind: r.kind, stage: r.stage, decision: r.decision, code: r.code, message: r.message, effects: r.effects.map((e) => e.type) }));

/** The shadow report of a workflow, polled until `ready` (the index follows the ledgers within moments). */
async function report(workflow: string, query: string, ready: (body: any) => boolean, key: string = KEY.auditor) {
  for (let i = 0; i < 100; i++) {
    const result = await api("GET", `/v1/workflows/${workflow}/shadow?${query}`, { key });
    if (result.status !== 200 || ready(result.body)) return result;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the shadow report of ${workflow} never showed ${query}`);
}

async function replaysValid(jws: string[], definition: unknown) {
  const verdict = await verifyReceiptChain(jws, await jwksLookup());
  expect(verdict.ok, verdict.ok ? "" : verdict.reason).toBe(true);
  if (!verdict.ok) return;
  const { divergences } = await replayChain(verdict.receipts, await compileWorkflow(definition));
  expect(divergences).toEqual([]);
}

describe("shadow mode: the candidate decides beside the enforced version, and only the enforced one counts", () => {
  it("a tightening candidate: enforcement as without one; the report lists exactly the decisions it flips, with each side's condition", async () => {
    const tight = await runScript("shadow-tight");
    const twin = await runScript("shadow-twin");
    // The same decisions, messages and effects as the same version with no candidate configured.
    expect(enforcement(tight.chain)).toEqual(enforcement(twin.chain));
    expect(twin.chain.every((r) => r.shadow === undefined)).toBe(true);

    const candidate = (await compileWorkflow(gated("shadow-tight", TIGHT))).hash;
    expect(tight.chain.map((r) => r.shadow?.candidate)).toEqual(tight.chain.map(() => candidate));
    expect(tight.chain.map((r) => r.shadow?.flip)).toEqual([null, null, "decision", null, "decision", "decision", null]);
    // rows 150: both deny, for the same reason: not a flip, and not listed.
    expect(tight.chain[3]?.shadow).toEqual({ candidate, decision: "DENY", code: "CONDITION_FAILED", flip: null });

    const listed = await report("shadow-tight", `seq=${tight.seq}`, (b) => b.decisions.length === 3);
    expect(listed.status).toBe(200);
    expect(listed.body).toMatchObject({ workflow: "shadow-tight", candidate: { hash: candidate, compiles: true, issues: [] }, promotion: null, next: null });
    const rows = { decision: "DENY", code: "CONDITION_FAILED", condition: "args.rows <= 20" };
    expect(listed.body.decisions.map(({ receipt: _r, at: _a, shadow: { message: _m, ...shadow }, ...entry }: any) => ({ ...entry, shadow }))).toEqual([
      {
        seq: tight.seq, n: 5, kind: "evidence", stage: "read", version: tight.chain[0]?.workflow, candidate, flip: "decision",
        enforced: { decision: "ALLOW", code: null, condition: "attestation.facts.risk <= 5" },
        shadow: { decision: "DENY", code: "CONDITION_FAILED", condition: "attestation.facts.risk <= 2" },
      },
      { seq: tight.seq, n: 4, kind: "redeem", stage: "read", version: tight.chain[0]?.workflow, candidate, flip: "decision", enforced: { decision: "ALLOW", code: null, condition: "args.rows <= 100" }, shadow: rows },
      { seq: tight.seq, n: 2, kind: "redeem", stage: "read", version: tight.chain[0]?.workflow, candidate, flip: "decision", enforced: { decision: "ALLOW", code: null, condition: "args.rows <= 100" }, shadow: rows },
    ]);
    // Each entry carries the signed receipt that records both sides.
    expect(listed.body.decisions.map((d: any) => d.receipt)).toEqual([tight.jws[5], tight.jws[4], tight.jws[2]]);
    // The chain verifies and every enforced decision replays identically, shadow and all.
    await replaysValid(tight.jws, gated("shadow-tight", LOOSE));
  });

  it("a loosening candidate flips DENY to ALLOW", async () => {
    const loose = await runScript("shadow-loose");
    expect(loose.chain.map((r) => `${r.decision}${r.shadow?.flip ? ` → ${r.shadow.flip === "error" ? "error" : r.shadow.decision}` : ""}`)).toEqual([
      "ALLOW", "ALLOW", "DENY → ALLOW", "DENY", "DENY → ALLOW", "DENY → ALLOW", "ALLOW", "ALLOW",
    ]);
    const listed = await report("shadow-loose", `seq=${loose.seq}`, (b) => b.decisions.length === 3);
    expect(listed.body.decisions.map((d: any) => [d.n, d.enforced, d.shadow.decision, d.shadow.code, d.shadow.condition])).toEqual([
      [5, { decision: "DENY", code: "CONDITION_FAILED", condition: "attestation.facts.risk <= 2" }, "ALLOW", null, "attestation.facts.risk <= 5"],
      [4, { decision: "DENY", code: "CONDITION_FAILED", condition: "args.rows <= 20" }, "ALLOW", null, "args.rows <= 100"],
      [2, { decision: "DENY", code: "CONDITION_FAILED", condition: "args.rows <= 20" }, "ALLOW", null, "args.rows <= 100"],
    ]);
    // The loosened review would have opened the stage at receipt 5; enforcement waited for receipt 6.
    expect(loose.chain[5]?.effects).toEqual([]);
    await replaysValid(loose.jws, gated("shadow-loose", TIGHT));
  });

  it("a candidate that does not compile decides nothing, and the configuration and enforcement go on", async () => {
    const broken = await runScript("shadow-broken");
    const twin = await runScript("shadow-twin");
    expect(enforcement(broken.chain)).toEqual(enforcement(twin.chain));
    for (const r of broken.chain) {
      expect(r.shadow).toEqual({ candidate: null, flip: "error", error: expect.stringMatching(/^the candidate does not compile: shadow\[\d+\]\.candidate\.stages\[0\]\.grants\[0\]\.where: /) });
    }
    const listed = await report("shadow-broken", `seq=${broken.seq}&flip=error`, (b) => b.decisions.length === broken.chain.length);
    expect(listed.body.candidate).toMatchObject({ hash: null, compiles: false, issues: [{ path: expect.stringMatching(/grants\[0\]\.where$/) }] });
    expect(listed.body.decisions[0]).toMatchObject({ flip: "error", shadow: null, candidate: null, error: expect.stringContaining("does not compile") });
    await replaysValid(broken.jws, gated("shadow-broken", LOOSE));
  });

  it("a candidate whose decision throws decides nothing; enforcement is untouched", async () => {
    const config = await loadConfig(env);
    const entry = config.candidates.get("shadow-throws");
    const compiled = entry?.compiled;
    if (!entry || !compiled) throw new Error("shadow-throws has no compiled candidate");
    // The same object the ledgers read (the configuration is parsed once per isolate), with a
    // definition that throws on every read: every decide() of the candidate throws.
    const throwing = Object.defineProperty({ ...compiled }, "definition", { get: () => { throw new Error("sabotaged candidate"); } });
    entry.compiled = throwing;
    try {
      const thrown = await runScript("shadow-throws");
      const twin = await runScript("shadow-twin");
      expect(enforcement(thrown.chain)).toEqual(enforcement(twin.chain));
      for (const r of thrown.chain) expect(r.shadow).toEqual({ candidate: compiled.hash, flip: "error", error: "the candidate threw: sabotaged candidate" });
      await replaysValid(thrown.jws, gated("shadow-throws", LOOSE));
    } finally {
      entry.compiled = compiled;
    }
  });

  it("the same policy as another version flips nothing: its tokens and approvals are re-bound to it", async () => {
    const same = await runScript("shadow-same");
    expect(same.chain.map((r) => r.shadow?.flip)).toEqual(same.chain.map(() => null));

    // Approvals: the candidate's gate asks approvers to approve another digest (it names the
    // candidate's version), so the approval must be taken to approve what it approved.
    const params = { report: "R-2026-117", employee: "alice", total: 500, currency: "EUR" };
    const { seq, capability } = await startSequence("shadow-approvals", params);
    await redeem(KEY.expenses, capability, "receipts.read", { report: params.report });
    const summary = await attest({ attester: "expense-checker", seq, stage: "gather", type: "summary_complete", facts: { report: params.report, total: params.total } });
    expect((await submitEvidence(seq, summary)).status).toBe(202);
    expect((await approve(seq, "alice")).status).toBe(403);
    const opened = await approve(seq, "fran");
    expect(opened.status).toBe(200);
    for (const amount of [200, 250, 100]) await redeem(KEY.payments, opened.body.capability, "payment.send", { employee: "alice", currency: "EUR", amount });
    const chain = (await receipts(seq)).map(claimsOf);
    expect(chain.map((r) => `${r.kind} ${r.decision} ${r.code ?? ""}`.trim())).toEqual([
      "start ALLOW", "redeem ALLOW", "evidence ESCALATE APPROVAL_REQUIRED", "approval DENY EVIDENCE_INVALID", "approval ALLOW",
      "redeem ALLOW", "redeem ALLOW", "redeem DENY SCOPE_EXCEEDED",
    ]);
    expect(chain.map((r) => r.shadow?.flip)).toEqual(chain.map(() => null));
    expect(chain.map((r) => (r.shadow && "decision" in r.shadow ? r.shadow.decision : null))).toEqual(chain.map((r) => r.decision));
    await replaysValid(await receipts(seq), { ...reimbursement, id: "shadow-approvals" });
  });

  it("GET /v1/workflows/:id/shadow: auditors and operators only, operators without receipts; bad input is INVALID_REQUEST; pages", async () => {
    const { seq } = await runScript("shadow-tight");
    const path = `/v1/workflows/shadow-tight/shadow?seq=${seq}`;
    await report("shadow-tight", `seq=${seq}`, (b) => b.decisions.length === 3);

    expect((await api("GET", path)).body.error.code).toBe("UNAUTHENTICATED");
    expect((await api("GET", path, { key: "not-a-key" })).status).toBe(401);
    for (const key of [KEY.orchestrator, KEY.agent, KEY.db, KEY.attester, KEY.approvals]) {
      const refused = await api("GET", path, { key });
      expect([refused.status, refused.body.error.code]).toEqual([403, "FORBIDDEN"]);
    }
    const operator = await api("GET", path, { key: KEY.operator });
    expect(operator.status).toBe(200);
    expect(operator.body.decisions).toHaveLength(3);
    expect(operator.body.decisions.every((d: any) => !("receipt" in d))).toBe(true);

    expect((await api("GET", "/v1/workflows/nope/shadow", { key: KEY.auditor })).body.error.code).toBe("UNKNOWN_WORKFLOW");
    for (const query of ["limit=0", "limit=101", "limit=many", "flip=maybe", "kind=dance", "seq=xyz", "candidate=short", "cursor=junk", `cursor=${btoa("[1,2]")}`]) {
      const bad = await api("GET", `/v1/workflows/shadow-tight/shadow?${query}`, { key: KEY.auditor });
      expect([bad.status, bad.body.error?.code], query).toEqual([400, "INVALID_REQUEST"]);
    }

    // Filters, and one entry per page through the opaque cursor.
    expect((await api("GET", `${path}&kind=evidence`, { key: KEY.auditor })).body.decisions.map((d: any) => d.n)).toEqual([5]);
    expect((await api("GET", `${path}&flip=code`, { key: KEY.auditor })).body.decisions).toEqual([]);
    const pages: number[] = [];
    let cursor: string | null = null;
    do {
      const page: ApiResult<Record<string, any>> = await api("GET", `${path}&limit=1${cursor ? `&cursor=${cursor}` : ""}`, { key: KEY.auditor });
      pages.push(...page.body.decisions.map((d: any) => d.n));
      cursor = page.body.next;
    } while (cursor);
    expect(pages).toEqual([5, 4, 2]);

    // What `baton shadow report` prints comes from each line's signed receipt, and a line that
    // says otherwise than its receipt (here: the enforced side's condition) is refused.
    const keys = await jwksLookup();
    const [line] = (await api("GET", `${path}&limit=1`, { key: KEY.auditor })).body.decisions;
    const { receipt: _receipt, ...unsigned } = line;
    expect(await verifiedShadowEntry(line, keys)).toEqual({ ok: true, entry: unsigned });
    const lying = { ...line, enforced: { ...line.enforced, condition: "attestation.facts.risk <= 2" } };
    expect(await verifiedShadowEntry(lying, keys)).toEqual({ ok: false, reason: "the line says otherwise than its receipt" });
    const forged = `${line.receipt.slice(0, -6)}${line.receipt.endsWith("AAAAAA") ? "BBBBBB" : "AAAAAA"}`;
    expect(await verifiedShadowEntry({ ...line, receipt: forged }, keys)).toMatchObject({ ok: false, reason: expect.stringMatching(/^its receipt does not verify/) });
    expect(await verifiedShadowEntry(operator.body.decisions[0], keys)).toEqual({ ok: false, reason: "the line carries no receipt" });

    // A workflow without a candidate has nothing to report.
    expect((await api("GET", "/v1/workflows/shadow-twin/shadow", { key: KEY.auditor })).body).toMatchObject({ candidate: null, promotion: null, decisions: [] });
  });

  it("promotion is a configuration change: the first sequence under the promoted version is receipted as such, once", async () => {
    // The configuration's `from` is the version the candidate replaced.
    expect(PROMOTED_FROM).toBe((await compileWorkflow(PROMOTED_BEFORE)).hash);
    const promoted = await compileWorkflow(gated("shadow-promoted", TIGHT));
    expect((await api("GET", "/v1/workflows/shadow-promoted", { key: KEY.auditor })).body.hash).toBe(promoted.hash);

    const started = await Promise.all([1, 2, 3, 4].map(() => startSequence("shadow-promoted")));
    const marked = started.filter((s) => claimsOf(s.receipt).promoted_from !== undefined);
    expect(marked).toHaveLength(1);
    expect(claimsOf(marked[0]?.receipt ?? "")).toMatchObject({ kind: "start", n: 0, workflow: promoted.hash, promoted_from: PROMOTED_FROM });
    const later = await startSequence("shadow-promoted");
    expect(claimsOf(later.receipt).promoted_from).toBeUndefined();

    const listed = await api("GET", "/v1/workflows/shadow-promoted/shadow", { key: KEY.operator });
    expect(listed.body).toMatchObject({ version: promoted.hash, candidate: null, promotion: { from: PROMOTED_FROM, first_sequence: marked[0]?.seq } });
    // The mark is beside the decision: the start replays as any start does.
    await replaysValid(await receipts(marked[0]?.seq ?? ""), gated("shadow-promoted", TIGHT));
  });
});
