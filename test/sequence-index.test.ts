import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { SequenceIndex } from "../src/ledger/sequence-index.js";
import { KEY, PARAMS, api, attest, receipts, start, submitEvidence } from "./helpers.js";

function indexNamed(name: string) {
  return env.SEQUENCE_INDEX.get(env.SEQUENCE_INDEX.idFromName(name));
}

const facts = (seq: string) => ({ seq, workflow: "reimbursement", actor: "agent-7", subject: "user:x", orchestrator: "dev-orchestrator", created: 1 });

/** Lists through the API until `ready` holds (the index follows the ledgers within moments). */
async function listed(query: string, ready: (body: any) => boolean, key: string = KEY.operator) {
  for (let i = 0; i < 100; i++) {
    const result = await api("GET", `/v1/sequences?${query}`, { key });
    if (result.status !== 200 || ready(result.body)) return result;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`index never showed ${query}`);
}

describe("the sequence index", () => {
  it("ingestion is idempotent by (seq, n): a redelivered or late receipt changes nothing", async () => {
    const { seq } = await start("reimbursement");
    const summary = await attest({ attester: "expense-checker", seq, stage: "gather", type: "summary_complete", facts: { report: PARAMS.reimbursement.report, total: PARAMS.reimbursement.total } });
    await submitEvidence(seq, summary);
    const revoked = await api("POST", `/v1/sequences/${seq}/revoke`, { key: KEY.orchestrator, body: { reason: "test" } });
    expect(revoked.status).toBe(200);
    const chain = await receipts(seq);
    const index = indexNamed(`idempotent-${seq}`);
    const rows = () => runInDurableObject(index, (_i: SequenceIndex, state) => state.storage.sql.exec("SELECT * FROM sequences").toArray());

    await index.ingest({ sequence: facts(seq), through: 1, receipts: chain.slice(0, 2) });
    const waiting = await rows();
    expect(waiting).toHaveLength(1);
    expect(waiting[0]).toMatchObject({ status: "active", stage: "gather", waiting_group: "finance-managers", through: 1 });
    // The same page again: the row is byte for byte what it was.
    await index.ingest({ sequence: facts(seq), through: 1, receipts: chain.slice(0, 2) });
    expect(await rows()).toEqual(waiting);

    await index.ingest({ sequence: facts(seq), through: 2, receipts: [chain[2]!] });
    const sealed = await rows();
    expect(sealed[0]).toMatchObject({ status: "sealed", seal_reason: "revoked", waiting: null, waiting_group: null, through: 2 });
    // A late redelivery of the escalation cannot make the sealed sequence wait again.
    await index.ingest({ sequence: facts(seq), through: 1, receipts: chain.slice(0, 2) });
    expect(await rows()).toEqual(sealed);
  });

  it("GET /v1/sequences filters by workflow, status, actor, subject and a gate waiting for a group; pages newest first", async () => {
    const subject = `user:index-${crypto.randomUUID()}`;
    const body = { subject };
    const deployment = await start("deployment", { body });
    const waiting = await start("reimbursement", { body: { ...body, actor: "agent-idx" } });
    const summary = await attest({ attester: "expense-checker", seq: waiting.seq, stage: "gather", type: "summary_complete", facts: { report: PARAMS.reimbursement.report, total: PARAMS.reimbursement.total } });
    expect((await submitEvidence(waiting.seq, summary, KEY.orchestrator)).status).toBe(202);
    const revoked = await start("reimbursement", { body });
    await api("POST", `/v1/sequences/${revoked.seq}/revoke`, { key: KEY.orchestrator, body: { reason: "test" } });

    const s = `subject=${encodeURIComponent(subject)}`;
    const all = await listed(s, (b) => b.sequences.length === 3 && b.sequences.some((x: any) => x.status === "sealed") && b.sequences.some((x: any) => x.waiting));
    expect(all.status).toBe(200);
    const seqs = (r: { body: any }) => r.body.sequences.map((x: any) => x.seq);
    expect(seqs(all)).toEqual([revoked.seq, waiting.seq, deployment.seq]);
    expect(all.body.next).toBeNull();
    expect(all.body.sequences[1]).toMatchObject({ workflow: "reimbursement", actor: "agent-idx", subject, orchestrator: "orchestrator", status: "active", stage: "gather" });
    expect(all.body.sequences[1].waiting).toMatchObject({ stage: "gather", group: "finance-managers", required: 1, remaining: 1 });

    expect(seqs(await api("GET", `/v1/sequences?${s}&workflow=deployment`, { key: KEY.auditor }))).toEqual([deployment.seq]);
    expect(seqs(await api("GET", `/v1/sequences?${s}&status=sealed`, { key: KEY.operator }))).toEqual([revoked.seq]);
    expect(seqs(await api("GET", `/v1/sequences?${s}&status=active`, { key: KEY.operator }))).toEqual([waiting.seq, deployment.seq]);
    expect(seqs(await api("GET", `/v1/sequences?${s}&actor=agent-idx`, { key: KEY.operator }))).toEqual([waiting.seq]);
    expect(seqs(await api("GET", `/v1/sequences?${s}&waiting=approval`, { key: KEY.operator }))).toEqual([waiting.seq]);
    expect(seqs(await api("GET", `/v1/sequences?${s}&waiting=approval&group=finance-managers`, { key: KEY.operator }))).toEqual([waiting.seq]);
    expect(seqs(await api("GET", `/v1/sequences?${s}&waiting=approval&group=sre`, { key: KEY.operator }))).toEqual([]);

    // Paging: one at a time, the opaque cursor carries on where the last page stopped.
    const pages: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: any } = await api("GET", `/v1/sequences?${s}&limit=1${cursor ? `&cursor=${cursor}` : ""}`, { key: KEY.operator });
      pages.push(...seqs(page));
      cursor = page.body.next;
    } while (cursor);
    expect(pages).toEqual(seqs(all));

    // An orchestrator sees its own sequences only; an agent may not list.
    expect(seqs(await api("GET", `/v1/sequences?${s}`, { key: KEY.limitedOrchestrator }))).toEqual([]);
    expect(seqs(await api("GET", `/v1/sequences?${s}`, { key: KEY.orchestrator }))).toHaveLength(3);
    expect((await api("GET", `/v1/sequences?${s}`, { key: KEY.agent })).status).toBe(403);
    expect((await api("GET", "/v1/sequences")).status).toBe(401);
  });

  it.each([
    "status=open",
    "limit=0",
    "limit=101",
    "limit=ten",
    "waiting=attestation",
    "group=finance-managers",
    "workflow=Not%20An%20Id",
    "cursor=not-a-cursor",
    `cursor=${btoa(JSON.stringify([1, "x"]))}`,
    `subject=${"a".repeat(300)}`,
    "actor=line%0Abreak",
  ])("a malformed query (%s) is 400 INVALID_REQUEST", async (query) => {
    const result = await api("GET", `/v1/sequences?${query}`, { key: KEY.operator });
    expect(result.status).toBe(400);
    expect(result.body.error.code).toBe("INVALID_REQUEST");
  });
});
