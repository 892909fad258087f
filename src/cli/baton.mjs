#!/usr/bin/env -S node --max-semi-space-size=4
// (A young generation of 4 MB keeps `audit verify` of any length under 100 MB resident:
// receipts are checked one by one, and the default young generation grows to ~30 MB of garbage.)
// The auditor's command line. Offline: needs only an export, the JWKS and the
// workflow files — never the running Baton.
//
//   baton audit verify <receipts.txt> --jwks <jwks.json> --workflows <dir> [--head <file>] [--credentials <file>] [--json]
//   baton audit verify <bundle.json> [--jwks <jwks.json>] [--workflows <dir>] [--json]
//   baton audit whatif <receipts.txt> --workflows <new dir> [--workflow <id>] [--jwks <jwks.json>] [--json]
//   baton inspect <token | file | -> [--jwks <jwks.json>] [--json]
//   baton test <workflows dir | test file>… [--json]   (the workflows' *.test.json, offline through decide())
//   baton approver keygen|show|sign …   (the approver's CLI, src/cli/approver.mjs)
//   baton lint …, baton scaffold …      (the workflow author's: src/cli/lint.mjs, scaffold.mjs)
//   baton shadow report …               (shadow-report.mjs, its own options)
//   baton attest probe …   (the probe attester, src/cli/attest.mjs: checks a live system, signs only a pass)
//
// Exit codes: 0 valid, 1 invalid (the first failing receipt and why), 2 usage or unreadable input.
// Plain JavaScript over the built library (dist/, made by `npm install`), so it runs on any supported Node.
// One module per command: audit-verify.mjs, audit-whatif.mjs, inspect.mjs; cli-io.mjs reads their inputs.
import { parseArgs } from "node:util";
import { auditVerify } from "./audit-verify.mjs";
import { auditWhatif } from "./audit-whatif.mjs";
import { UsageError } from "./cli-io.mjs";
import { inspect } from "./inspect.mjs";
import { test } from "./test.mjs";

const USAGE = `usage:
  baton audit verify <receipts.txt> --jwks <jwks.json> --workflows <dir> [--head <file>] [--credentials <file>] [--json]
  baton audit verify <bundle.json> [--jwks <jwks.json>] [--workflows <dir>] [--json]
  baton audit whatif <receipts.txt> --workflows <dir> [--workflow <id>] [--jwks <jwks.json>] [--json]
  baton inspect <token | file | -> [--jwks <jwks.json>] [--json]
  baton test <workflows dir | test file>… [--json]
  baton approver keygen|show|sign …  (baton approver --help)
  baton lint [<workflow.json | dir>…] [--config <config.json>] [--json]  (baton lint --help)
  baton scaffold --from-mcp <MCP server URL | tools-list.json> [--out <workflow.json>]  (baton scaffold --help)
  baton shadow report <workflow> | --from <receipts.txt | bundle.json>  (baton shadow --help)
  baton attest probe --prometheus <url> --query <promql> --max <n> [--for 5m] … | --http <url> …  (baton attest --help)
<receipts.txt> is the export of GET /v1/sequences/:id/receipts: one compact JWS per line.
<bundle.json> is GET /v1/sequences/:id/bundle: receipts, JWKS, signed head, credentials and workflow in one file.
--credentials is GET /v1/approvers/credentials: passkey approvals are re-verified against its signed log.`;

// `baton approver …` is the approver's command line, under the same bin; it parses its own options.
const approver = process.argv[2] === "approver";
if (approver) {
  process.argv.splice(2, 1);
  await import("./approver.mjs");
}
// `baton attest …` parses its own options too (attest.mjs).
const attesting = process.argv[2] === "attest";

// The workflow author's commands parse their own options (literal imports: packages/build.mjs follows them).
const AUTHORING = { lint: () => import("./lint.mjs"), scaffold: () => import("./scaffold.mjs") };
const authoring = Object.hasOwn(AUTHORING, process.argv[2] ?? "") ? AUTHORING[process.argv[2]] : null;

// `baton shadow …` parses its own options too (shadow-report.mjs).
const shadow = process.argv[2] === "shadow";
if (shadow) {
  const { shadowCommand } = await import("./shadow-report.mjs");
  shadowCommand(process.argv.slice(3)).then(
    (code) => process.exit(code),
    (error) => {
      console.error(error instanceof UsageError ? error.message : `error: ${error.stack ?? error}`);
      process.exit(2);
    },
  );
}

const { values, positionals } = approver || authoring || shadow || attesting
  ? { values: {}, positionals: [] }
  : parseArgs({
      allowPositionals: true,
      options: {
        jwks: { type: "string" },
        workflows: { type: "string" },
        workflow: { type: "string" },
        head: { type: "string" },
        credentials: { type: "string" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h" },
      },
    });

async function main() {
  if (authoring) return (await authoring()).run(process.argv.slice(3));
  if (attesting) return (await import("./attest.mjs")).attest(process.argv.slice(3));
  const [command, sub, target] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return command || values.help ? 0 : 2;
  }
  if (command === "audit" && sub === "verify") return auditVerify(target ?? "", values);
  if (command === "audit" && sub === "whatif") return auditWhatif(target ?? "", values);
  if (command === "inspect") return inspect(sub, values);
  if (command === "test") return test(positionals.slice(1), values);
  throw new UsageError(USAGE);
}

if (!approver && !shadow) main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error instanceof UsageError ? error.message : `error: ${error.stack ?? error}`);
    process.exit(2);
  },
);
