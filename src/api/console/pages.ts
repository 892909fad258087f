import { html } from "hono/html";
import type { IndexedSequence } from "../../ledger/sequence-index.js";
import { layout } from "./layout.js";

type Session = { principal: string; csrf: string; rpId: string };
const time = (seconds: number | null | undefined) => (seconds ? new Date(seconds * 1000).toISOString().replace(".000", "") : "—");

export const signInPage = () =>
  layout(
    "Sign in",
    html`<h1>Sign in</h1>
      <p>Approvers sign in with the passkey they enrolled. No password, no API key.</p>
      <div class="actions"><button type="button" class="primary" id="sign-in">Sign in with a passkey</button></div>
      <p id="status" role="status" aria-live="polite"></p>`,
  );

export const enrolPage = () =>
  layout(
    "Enrol a passkey",
    html`<h1>Enrol a passkey</h1>
      <p>Your operator sent you this one-time link. Register a passkey on this device; you will approve with it.</p>
      <div class="actions"><button type="button" class="primary" id="enrol">Register a passkey</button></div>
      <p id="status" role="status" aria-live="polite"></p>`,
  );

export function queuePage(session: Session, groups: string[], waiting: IndexedSequence[]) {
  return layout(
    "Waiting for you",
    html`<h1>Waiting for your approval</h1>
      <p>Groups: ${groups.join(", ")}</p>
      ${
        waiting.length === 0
          ? html`<p id="queue-empty">Nothing is waiting for your groups.</p>`
          : html`<ul class="queue" id="queue">
              ${waiting.map(
                (s) =>
                  html`<li>
                    <a href="/console/sequences/${s.seq}"><strong>${s.workflow}</strong>: ${s.subject}</a><br />
                    stage ${s.stage} · ${s.waiting ? html`${s.waiting.remaining} of ${s.waiting.required} approvals still needed (${s.waiting.group})` : ""}
                    ${s.waiting?.until ? html`· until ${time(s.waiting.until)}` : ""}
                  </li>`,
              )}
            </ul>`
      }`,
    session,
  );
}

/** What GET /v1/sequences/:id says about the pending gate's approvals (ledger/describe.ts). */
interface Described {
  id: string;
  workflow: { id: string; hash: string };
  subject: string;
  actor: string;
  params: Record<string, unknown>;
  status: string;
  stage: { id: string | null };
  next_gate: {
    opens: string | null;
    approvals?: {
      group: string;
      required: number;
      remaining: number;
      approved_by: { approver: string; at: number; expires_at: number }[];
      until: number | null;
      rejected: unknown;
      ready: boolean;
      subject: { evidence: { iss: string; type: string; jti: string; digest: string }[] } | null;
      digest: string | null;
    } | null;
  } | null;
}

export function detailPage(session: Session, d: Described) {
  const approvals = d.next_gate?.approvals ?? null;
  const subject = approvals?.subject ?? null;
  const open = d.status === "active" && approvals?.ready === true && subject !== null && approvals.digest !== null;
  return layout(
    `${d.workflow.id}: ${d.subject}`,
    html`<h1>${d.workflow.id}: approve stage ${d.next_gate?.opens ?? "(completion)"}?</h1>
      <table>
        <tr><th scope="row">Sequence</th><td><code id="seq">${d.id}</code></td></tr>
        <tr><th scope="row">Requester (subject)</th><td>${d.subject}</td></tr>
        <tr><th scope="row">Actor</th><td>${d.actor}</td></tr>
        <tr><th scope="row">Status</th><td>${d.status}</td></tr>
        <tr><th scope="row">Current stage</th><td id="stage">${d.stage.id ?? ""}</td></tr>
        <tr><th scope="row">Opens</th><td>${d.next_gate?.opens ?? "—"}</td></tr>
        ${
          approvals
            ? html`<tr><th scope="row">Approvals</th><td>${approvals.remaining} of ${approvals.required} still needed from ${approvals.group}</td></tr>
                <tr><th scope="row">Approved by</th><td>${approvals.approved_by.map((a) => `${a.approver} at ${time(a.at)}`).join("; ") || "no one yet"}</td></tr>
                <tr><th scope="row">Until</th><td>${time(approvals.until)}</td></tr>`
            : ""
        }
      </table>
      <h2>Parameters</h2>
      <table>${Object.entries(d.params).map(([k, v]) => html`<tr><th scope="row">${k}</th><td><code>${JSON.stringify(v)}</code></td></tr>`)}</table>
      <h2>Accepted evidence</h2>
      ${
        subject && subject.evidence.length > 0
          ? html`<table><tr><th>Who</th><th>Attested</th><th>Id</th></tr>${subject.evidence.map((e) => html`<tr><td>${e.iss}</td><td>${e.type}</td><td><code>${e.jti}</code></td></tr>`)}</table>`
          : html`<p>None.</p>`
      }
      ${
        open
          ? html`<h2>What you sign</h2>
              <p>Your browser recomputes the digest below from this text (SHA-256 of its RFC 8785 canonical JSON); your passkey signs that digest.</p>
              <pre id="approval-subject" aria-label="the approval subject">${JSON.stringify(subject, null, 2)}</pre>
              <p>Ledger's digest: <code id="ledger-digest">${approvals?.digest ?? ""}</code></p>
              <p id="digest-check" role="status" aria-live="polite">Checking the digest…</p>
              <label for="comment">Comment (optional)</label><input id="comment" maxlength="500" />
              <div class="actions">
                <button type="button" class="primary" id="approve" disabled>Approve with passkey</button>
                <button type="button" class="danger" id="reject" disabled>Reject with passkey</button>
              </div>`
          : html`<p id="not-open">This gate is not taking approvals now.</p>`
      }
      <p id="status" role="status" aria-live="polite"></p>
      <pre id="receipt" hidden></pre>`,
    session,
  );
}
