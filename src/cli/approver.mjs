#!/usr/bin/env node
// The approver's command line: see exactly what you are asked to approve, then
// sign it with your own key. Baton never sees the private key.
//
//   npm run approver -- keygen --id carol [--out carol.private.jwk.json]
//   npm run approver -- show <sequence id>
//   npm run approver -- sign <sequence id> --key carol.private.jwk.json [--reject] [--comment "..."] [--submit]
//
// Options (or environment): --url (BATON_URL, default http://localhost:8787),
// --api-key (BATON_API_KEY): a credential of role `approver` (or the sequence's
// orchestrator) to read the sequence and submit. The approval's authority comes
// from the signing key alone; the API key only lets the CLI talk to Baton.
// Plain JavaScript over the built library (dist/, made by `npm install`), so it runs on any supported Node.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { approvalDigest, generateApproverKey, signApproval } from "baton/audit";

const USAGE = `usage:
  approver keygen --id <approver id> [--out <private key file>]
  approver show <sequence id> [--url URL] [--api-key KEY] [--json]
  approver sign <sequence id> --key <private key file> [--as <approver id>] [--reject] [--comment TEXT] [--submit] [--url URL] [--api-key KEY]`;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    id: { type: "string" },
    out: { type: "string" },
    key: { type: "string" },
    as: { type: "string" },
    url: { type: "string", default: process.env.BATON_URL ?? "http://localhost:8787" },
    "api-key": { type: "string", default: process.env.BATON_API_KEY },
    reject: { type: "boolean", default: false },
    comment: { type: "string" },
    submit: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h" },
  },
});

/** Exit codes: 0 done, 1 refused by Baton or nothing to approve, 2 usage or unreadable input. */
function fail(message, code = 2) {
  console.error(message);
  process.exit(code);
}

async function api(method, path, body) {
  if (!values["api-key"]) fail("an API key is needed: --api-key or BATON_API_KEY");
  const response = await fetch(new URL(path, values.url), {
    method,
    headers: { authorization: `Bearer ${values["api-key"]}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body && JSON.stringify(body),
  }).catch((error) => fail(`cannot reach ${values.url}: ${error.message}`));
  const text = await response.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    fail(`unexpected answer (${response.status}): ${text.slice(0, 200)}`, 1);
  }
  return { status: response.status, body: json };
}

/** Reads the pending request for approval and checks its digest here, not on Baton's word. */
async function pendingRequest(seq) {
  if (!/^[0-9a-f]{64}$/.test(seq ?? "")) fail("give the sequence id (64 hex characters)");
  const { status, body } = await api("GET", `/v1/sequences/${seq}`);
  if (status !== 200) fail(`${body.error?.code ?? status}: ${body.error?.message ?? "cannot read the sequence"}`, 1);
  const approvals = body.next_gate?.approvals;
  if (!approvals) fail(`sequence ${seq} is not waiting for approvals (status ${body.status}, stage ${body.stage?.id})`, 1);
  if (approvals.rejected) fail(`this gate was rejected by ${approvals.rejected.approver}; nothing to approve`, 1);
  if (!approvals.ready) fail("the gate still waits for attestations; approvals come after them", 1);
  const digest = await approvalDigest(approvals.subject);
  if (digest !== approvals.digest) fail(`digest mismatch: Baton says ${approvals.digest}, the subject hashes to ${digest}`, 1);
  return { sequence: body, approvals, digest };
}

function show({ sequence, approvals, digest }) {
  const subject = approvals.subject;
  const line = (label, value) => console.log(`${label.padEnd(14)}${value}`);
  line("sequence", subject.seq);
  line("workflow", `${sequence.workflow.id} (version ${subject.workflow})`);
  line("on behalf of", `${sequence.subject}, acted by ${sequence.actor}, started by ${sequence.orchestrator}`);
  line("approve", subject.opens ? `leaving stage ${subject.stage} to open stage ${subject.opens}` : `completing stage ${subject.stage}`);
  line("parameters", JSON.stringify(subject.params));
  for (const item of subject.evidence) line("evidence", `${item.type} from ${item.iss} (jti ${item.jti}, sha256 ${item.digest})`);
  line("needs", `${approvals.required} of group ${approvals.group}; ${approvals.remaining} more`);
  for (const a of approvals.approved_by) line("approved by", `${a.approver} until ${new Date(a.expires_at * 1000).toISOString()}`);
  line("digest", `${digest} (checked)`);
}

const command = positionals[0];
if (values.help || !command) {
  console.log(USAGE);
  process.exit(command ? 0 : 2);
}

if (command === "keygen") {
  if (!values.id) fail("keygen needs --id <approver id>");
  const { privateJwk, publicJwk } = await generateApproverKey(`${values.id}-${new Date().toISOString().slice(0, 10)}`);
  const out = values.out ?? `${values.id}.private.jwk.json`;
  if (existsSync(out)) fail(`${out} exists; not overwriting a key`);
  writeFileSync(out, `${JSON.stringify({ approver: values.id, ...privateJwk }, null, 2)}\n`, { mode: 0o600 });
  console.error(`private key written to ${out} (keep it to yourself). Public key for the configuration's approvers[].keys:`);
  console.log(JSON.stringify(publicJwk, null, 2));
} else if (command === "show") {
  const pending = await pendingRequest(positionals[1]);
  if (values.json) console.log(JSON.stringify({ subject: pending.approvals.subject, digest: pending.digest }, null, 2));
  else show(pending);
} else if (command === "sign") {
  if (!values.key) fail("sign needs --key <private key file>");
  let privateJwk;
  try {
    privateJwk = JSON.parse(readFileSync(values.key, "utf8"));
  } catch (error) {
    fail(`cannot read ${values.key}: ${error.message}`);
  }
  if (!privateJwk.d || !privateJwk.kid) fail(`${values.key} is not a private JWK with a kid`);
  const approver = values.as ?? privateJwk.approver;
  if (!approver) fail(`${values.key} does not name its approver ("approver" member); pass --as <approver id>`);
  const pending = await pendingRequest(positionals[1]);
  show(pending);
  const decision = values.reject ? "reject" : "approve";
  const approval = await signApproval({
    privateJwk,
    approver,
    subject: pending.approvals.subject,
    decision,
    comment: values.comment,
  });
  if (!values.submit) {
    console.error(`signed (${decision}); submit with POST /v1/sequences/${positionals[1]}/approvals {"approval": ...}`);
    console.log(approval);
  } else {
    const { status, body } = await api("POST", `/v1/sequences/${positionals[1]}/approvals`, { approval });
    const code = body.code ?? body.error?.code ?? null;
    console.log(`${body.decision ?? "DENY"}${code ? ` ${code}` : ""} (HTTP ${status}): ${body.message ?? body.error?.message}`);
    if (body.capability) console.log(`stage ${body.stage} opened; the agent fetches its capability.`);
    process.exit(status < 300 ? 0 : 1);
  }
} else {
  fail(USAGE);
}
