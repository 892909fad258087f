import { html } from "hono/html";
import type { StoredSignal } from "../../analysis/signal-table.js";
import type { IndexedSequence } from "../../ledger/sequence-index.js";
import { layout } from "./layout.js";
import type { TimelineRow } from "./timeline.js";

/** Seconds or milliseconds since the epoch, as ISO 8601. */
const isoTime = (t: number) => new Date(t > 1e12 ? t : t * 1000).toISOString();
type Session = { principal: string; csrf: string; rpId: string; role: string };
export interface ListFilters {
  workflow?: string | undefined;
  status?: string | undefined;
  actor?: string | undefined;
  subject?: string | undefined;
}

const field = (name: keyof ListFilters, label: string, value: string | undefined) =>
  html`<label for="f-${name}">${label}</label><input id="f-${name}" name="${name}" value="${value ?? ""}" />`;

export function sequencesPage(session: Session, filters: ListFilters, rows: IndexedSequence[]) {
  return layout(
    "Sequences",
    html`<h1>Sequences</h1>
      <nav><a href="/console/signals">Signals</a></nav>
      <form method="get" action="/console/sequences" aria-label="filter the sequences">
        ${field("workflow", "Workflow", filters.workflow)} ${field("actor", "Actor", filters.actor)} ${field("subject", "Subject", filters.subject)}
        <label for="f-status">Status</label>
        <select id="f-status" name="status">
          ${["", "active", "sealed"].map((s) => html`<option value="${s}" ${filters.status === s ? "selected" : ""}>${s || "any"}</option>`)}
        </select>
        <div class="actions"><button type="submit">Filter</button></div>
      </form>
      <table id="sequences">
        <tr><th>Workflow</th><th>Subject</th><th>Actor</th><th>Status</th><th>Stage</th></tr>
        ${rows.map(
          (s) => html`<tr>
            <td><a href="/console/sequences/${s.seq}/timeline">${s.workflow}</a></td><td>${s.subject}</td><td>${s.actor}</td>
            <td>${s.status}${s.waiting ? html` · waiting for ${s.waiting.group}` : ""}</td><td>${s.stage}</td>
          </tr>`,
        )}
      </table>`,
    session,
  );
}

export function timelinePage(session: Session, seq: string, status: string, rows: TimelineRow[]) {
  const mayRevoke = session.role === "orchestrator" && status === "active";
  return layout(
    "Timeline",
    html`<h1>Timeline</h1>
      <p>Sequence <code id="seq">${seq}</code> · <span id="sequence-status">${status}</span></p>
      <p><a href="/console/sequences/${seq}/receipts.txt" download="receipts-${seq.slice(0, 12)}.txt">Download the receipts</a>
        (one JWS per line)${
          session.role === "auditor"
            ? html` · <a href="/console/sequences/${seq}/bundle.json" download="bundle-${seq.slice(0, 12)}.json">Download the evidence bundle</a>
                (receipts, JWKS, signed head, approvers' credentials: <code>baton audit verify bundle.json</code> checks it as it is)`
            : ""
        }</p>
      <table id="timeline">
        <tr><th>#</th><th>Time</th><th>Kind</th><th>Stage</th><th>Decision</th><th>Code</th><th>Who</th></tr>
        ${rows.map(
          (r) => html`<tr>
            <td>${r.n}</td><td>${r.at}</td><td>${r.kind}${r.passkey ? " (passkey)" : ""}</td><td>${r.stage}</td>
            <td>${r.decision}</td><td>${r.code ?? ""}</td><td>${r.who}</td>
          </tr>`,
        )}
      </table>
      ${
        mayRevoke
          ? html`<h2>Revoke</h2>
              <p>Revoking seals the sequence now: no further capability is issued. It cannot be undone.</p>
              <label for="revoke-reason">Reason</label><input id="revoke-reason" maxlength="500" required />
              <div class="actions"><button type="button" class="danger" id="revoke">Revoke this sequence…</button></div>`
          : ""
      }
      <p id="status" role="status" aria-live="polite"></p>`,
    session,
  );
}

export function signalsPage(session: Session, party: { actor?: string | undefined; subject?: string | undefined }, signals: StoredSignal[] | null) {
  const mayAct = session.role === "operator";
  return layout(
    "Signals",
    html`<h1>Signals</h1>
      <form method="get" action="/console/signals" aria-label="whose signals">
        <label for="s-actor">Actor</label><input id="s-actor" name="actor" value="${party.actor ?? ""}" />
        <label for="s-subject">or subject</label><input id="s-subject" name="subject" value="${party.subject ?? ""}" />
        <div class="actions"><button type="submit">Show</button></div>
      </form>
      ${
        signals === null
          ? html`<p>Name one actor or one subject.</p>`
          : html`<table id="signals" data-actor="${party.actor ?? ""}" data-subject="${party.subject ?? ""}">
              <tr><th>Detector</th><th>Severity</th><th>Status</th><th>Until</th><th></th></tr>
              ${signals.map(
                (s) => html`<tr>
                  <td>${s.detector}</td><td>${s.severity}</td><td>${s.status}</td><td>${isoTime(s.expires_at)}</td>
                  <td>${
                    mayAct && s.status !== "cleared"
                      ? html`<button type="button" data-signal="${s.id}" data-action="acknowledge">Acknowledge</button>
                          <button type="button" class="danger" data-signal="${s.id}" data-action="clear">Clear</button>`
                      : ""
                  }</td>
                </tr>`,
              )}
            </table>`
      }
      <p id="status" role="status" aria-live="polite"></p>`,
    session,
  );
}
