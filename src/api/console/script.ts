/**
 * The console's one script, served from /console/console.js (same origin, so the CSP needs no
 * 'unsafe-inline'). Plain browser JavaScript, no build step: WebAuthn ceremonies, and the
 * approval digest recomputed from the text the page shows.
 *
 * canonical() is RFC 8785 (JCS) for the values an approval subject holds — objects, arrays,
 * strings, finite numbers, booleans, null: members sorted by UTF-16 code units (JavaScript's
 * default sort order), strings and numbers as ECMAScript's JSON.stringify writes them, which is
 * the serialization RFC 8785 §3.2.2 adopts. Anything else (a non-finite number) throws.
 */
export const CONSOLE_JS = String.raw`"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const meta = (name) => document.querySelector('meta[name="' + name + '"]')?.content ?? "";
  const status = (text, ok) => { const el = $("status"); if (el) { el.textContent = text; el.className = ok === undefined ? "" : ok ? "ok" : "bad"; } };
  const b64u = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

  function canonical(value) {
    if (value === null || typeof value === "boolean" || typeof value === "string") return JSON.stringify(value);
    if (typeof value === "number") {
      if (!Number.isFinite(value)) throw new Error("not a JSON number");
      return JSON.stringify(value);
    }
    if (Array.isArray(value)) return "[" + value.map(canonical).join(",") + "]";
    if (typeof value === "object") {
      return "{" + Object.keys(value).sort().map((k) => JSON.stringify(k) + ":" + canonical(value[k])).join(",") + "}";
    }
    throw new Error("not a JSON value");
  }
  const digest = async (value) => b64u(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(canonical(value))));

  async function send(path, body) {
    const response = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-baton-csrf": meta("baton-csrf") },
      body: JSON.stringify(body ?? {}),
    });
    const text = await response.text();
    let json = null;
    try { json = JSON.parse(text); } catch {}
    return { status: response.status, json };
  }
  const failure = (r) => (r.json?.error ? r.json.error.code + ": " + r.json.error.message : "HTTP " + r.status);

  async function signIn() {
    status("Asking for a challenge…");
    const start = await send("/console/api/sign-in/options");
    if (start.status !== 200) return status(failure(start), false);
    const credential = await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(start.json.options) });
    const done = await send("/console/api/sign-in", { response: credential.toJSON() });
    if (done.status !== 200) return status(failure(done), false);
    status("Signed in as " + done.json.principal, true);
    location.assign("/console");
  }

  async function enrol() {
    const token = new URLSearchParams(location.hash.slice(1)).get("token") ?? "";
    status("Asking for the creation options…");
    const start = await send("/v1/enrolments/options", { token });
    if (start.status !== 200) return status(failure(start), false);
    const credential = await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(start.json.options) });
    const done = await send("/v1/enrolments/complete", { token, response: credential.toJSON() });
    if (done.status !== 201) return status(failure(done), false);
    history.replaceState(null, "", location.pathname);
    status("Passkey enrolled for " + start.json.approver + ". You can sign in now.", true);
  }

  /** A passkey assertion over passkeyApprovalChallenge(claims): base64url(SHA-256(JCS(claims))). */
  async function sign(claims) {
    const credential = await navigator.credentials.get({
      publicKey: PublicKeyCredential.parseRequestOptionsFromJSON({ challenge: await digest(claims), rpId: meta("baton-rp-id"), userVerification: "required" }),
    });
    const { response } = credential.toJSON();
    return { claims, credential_id: credential.id, authenticator_data: response.authenticatorData, client_data_json: response.clientDataJSON, signature: response.signature };
  }
  const submit = (seq, form) => send("/console/api/sequences/" + seq + "/approvals", { passkey: form });

  async function decide(decision, subjectDigest) {
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: meta("baton-principal"), seq: $("seq").textContent, stage: $("stage").textContent, decision, digest: subjectDigest, jti: crypto.randomUUID(), iat: now, exp: now + 300 };
    const comment = $("comment")?.value.trim();
    if (comment) claims.comment = comment;
    status("Confirm with your passkey…");
    const form = await sign(claims);
    window.batonConsole.lastForm = form;
    const result = await submit(claims.seq, form);
    const receipt = $("receipt");
    receipt.textContent = JSON.stringify(result.json, null, 2);
    receipt.hidden = false;
    // A rejection that is taken shuts the gate: the ledger answers it with APPROVAL_DENIED (and a receipt).
    const rejected = decision === "reject" && result.json?.error?.code === "APPROVAL_DENIED";
    if (result.status === 200 || result.status === 202) status("Approved: " + result.json.decision + (result.json.code ? " " + result.json.code : ""), true);
    else if (rejected) status("Rejected: " + failure(result), true);
    else status(failure(result), false);
  }

  async function checkDigest() {
    const shown = $("approval-subject");
    if (!shown) return;
    const computed = await digest(JSON.parse(shown.textContent));
    const matches = computed === $("ledger-digest").textContent;
    const check = $("digest-check");
    check.textContent = matches ? "Digest recomputed in this browser: " + computed + " — matches the ledger's." : "Digest recomputed in this browser: " + computed + " — does NOT match the ledger's; do not approve.";
    check.className = matches ? "ok" : "bad";
    for (const [id, decision] of [["approve", "approve"], ["reject", "reject"]]) {
      const button = $(id);
      button.disabled = !matches;
      button.addEventListener("click", () => decide(decision, computed).catch((e) => status(String(e), false)));
    }
  }

  async function revoke() {
    const reason = $("revoke-reason").value.trim();
    if (!reason) return status("Give a reason for the revocation.", false);
    if (!window.confirm("Revoke this sequence? It is sealed at once and cannot be resumed.")) return status("Not revoked.");
    const result = await send("/console/api/sequences/" + $("seq").textContent + "/revoke", { reason });
    if (result.status !== 200) return status(failure(result), false);
    status("Revoked: " + result.json.decision + " " + (result.json.code ?? ""), true);
    $("sequence-status").textContent = "sealed";
  }

  async function actOnSignal(button) {
    const table = $("signals");
    const party = table.dataset.actor ? { actor: table.dataset.actor } : { subject: table.dataset.subject };
    const result = await send("/console/api/signals/" + encodeURIComponent(button.dataset.signal) + "/" + button.dataset.action, party);
    if (result.status !== 200) return status(failure(result), false);
    status("Signal " + (button.dataset.action === "clear" ? "cleared" : "acknowledged") + ".", true);
    location.reload();
  }

  async function signOut() {
    await send("/console/api/sign-out");
    location.assign("/console");
  }

  window.batonConsole = { canonical, digest, sign, submit, lastForm: null };
  const on = (id, handler) => $(id)?.addEventListener("click", () => handler().catch((e) => status(String(e), false)));
  on("sign-in", signIn);
  on("enrol", enrol);
  on("sign-out", signOut);
  on("revoke", revoke);
  for (const button of document.querySelectorAll("button[data-signal]")) button.addEventListener("click", () => actOnSignal(button).catch((e) => status(String(e), false)));
  checkDigest().then(() => document.body.setAttribute("data-ready", "1"), (e) => status(String(e), false));
})();
`;
