#!/usr/bin/env -S node --max-semi-space-size=4
// (A young generation of 4 MB keeps `audit verify` of any length under 100 MB resident:
// receipts are checked one by one, and the default young generation grows to ~30 MB of garbage.)
// The auditor's command line. Offline: needs only an export, the JWKS and the
// workflow files — never the running Baton.
//
//   baton audit verify <receipts.txt> --jwks <jwks.json> --workflows <dir> [--head <file>] [--json]
//   baton audit whatif <receipts.txt> --workflows <new dir> [--workflow <id>] [--jwks <jwks.json>] [--json]
//   baton inspect <token | file | -> [--jwks <jwks.json>] [--json]
//   baton approver keygen|show|sign …   (the approver's CLI, src/cli/approver.mjs)
//
// Exit codes: 0 valid, 1 invalid (the first failing receipt and why), 2 usage or unreadable input.
// Plain JavaScript over the built library (dist/, made by `npm install`), so it runs on any supported Node.
import { createReadStream, readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { base64url, decodeProtectedHeader, importJWK } from "jose";
import { ChainChecker, Replayer, TYP, compileWorkflow, verifyJws } from "baton/audit";

const USAGE = `usage:
  baton audit verify <receipts.txt> --jwks <jwks.json> --workflows <dir> [--head <file>] [--json]
  baton audit whatif <receipts.txt> --workflows <dir> [--workflow <id>] [--jwks <jwks.json>] [--json]
  baton inspect <token | file | -> [--jwks <jwks.json>] [--json]
  baton approver keygen|show|sign …  (baton approver --help)
<receipts.txt> is the export of GET /v1/sequences/:id/receipts: one compact JWS per line.`;

class UsageError extends Error {}

// `baton approver …` is the approver's command line, under the same bin; it parses its own options.
const approver = process.argv[2] === "approver";
if (approver) {
  process.argv.splice(2, 1);
  await import("./approver.mjs");
}

const { values, positionals } = approver
  ? { values: {}, positionals: [] }
  : parseArgs({
      allowPositionals: true,
      options: {
        jwks: { type: "string" },
        workflows: { type: "string" },
        workflow: { type: "string" },
        head: { type: "string" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h" },
      },
    });

const color = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code, text) => (color ? `\x1b[${code}m${text}\x1b[0m` : text);
const green = (t) => paint(32, t);
const red = (t) => paint(31, t);
const yellow = (t) => paint(33, t);

function readText(path, what) {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new UsageError(`cannot read ${what} ${path}: ${error.message}`);
  }
}

async function loadKeys(path) {
  let jwks;
  try {
    jwks = JSON.parse(readText(path, "JWKS"));
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`${path} is not JSON`);
  }
  const keys = new Map();
  for (const jwk of jwks.keys ?? []) {
    if (typeof jwk.kid !== "string" || jwk.d !== undefined) continue;
    const alg = jwk.alg ?? (jwk.crv === "Ed25519" ? "EdDSA" : "ES256");
    try {
      keys.set(jwk.kid, { key: await importJWK({ ...jwk, alg }, alg), alg });
    } catch {
      // A key we cannot use verifies nothing.
    }
  }
  if (keys.size === 0) throw new UsageError(`${path} holds no usable public keys`);
  return (kid) => keys.get(kid);
}

async function loadWorkflows(dir) {
  const byHash = new Map();
  let files;
  try {
    files = readdirSync(dir).filter((f) => f.endsWith(".json"));
  } catch (error) {
    throw new UsageError(`cannot read workflows directory ${dir}: ${error.message}`);
  }
  for (const file of files) {
    try {
      const compiled = await compileWorkflow(JSON.parse(readText(join(dir, file), "workflow")));
      byHash.set(compiled.hash, compiled);
    } catch (error) {
      throw new UsageError(`${join(dir, file)}: ${error.message}`);
    }
  }
  return byHash;
}

/** The export's lines, one at a time: bounded memory whatever its length. */
async function* lines(path) {
  let stream;
  try {
    statSync(path);
    stream = createReadStream(path, { encoding: "utf8" });
  } catch (error) {
    throw new UsageError(`cannot read export ${path}: ${error.message}`);
  }
  for await (const line of createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY })) {
    if (line.trim() !== "") yield line;
  }
}

/** The export's lines, each with its signature check and hash started up to PREPARE_AHEAD lines ahead. */
const PREPARE_AHEAD = 32;
async function* preparedLines(path, checker) {
  const ahead = [];
  for await (const line of lines(path)) {
    ahead.push({ line, prepared: checker.prepare(line) });
    if (ahead.length >= PREPARE_AHEAD) yield ahead.shift();
  }
  yield* ahead;
}

function progress(path) {
  if (!process.stderr.isTTY || values.json) return { tick() {}, done() {} };
  const total = statSync(path).size;
  let bytes = 0;
  let last = 0;
  return {
    tick(line) {
      bytes += line.length + 1;
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      const width = 30;
      const filled = Math.round((bytes / total) * width);
      process.stderr.write(`\r[${"#".repeat(filled)}${" ".repeat(width - filled)}] ${Math.round((bytes / total) * 100)}%`);
    },
    done() {
      process.stderr.write("\r\x1b[K");
    },
  };
}

/** Who acted in a receipt, read from its recorded inputs. */
function actorOf(receipt) {
  const inputs = receipt.inputs ?? {};
  switch (inputs.kind) {
    case "start":
    case "revoke":
      return inputs.orchestrator;
    case "redeem":
    case "outcome":
      return `tool:${inputs.tool}`;
    case "evidence":
      return inputs.attestation?.ok ? inputs.attestation.claims.iss : "?";
    case "approval":
      return inputs.approval?.ok ? inputs.approval.approver.id : "?";
    case "reissue":
      return inputs.agent;
    case "delegate":
      return inputs.token?.act?.sub;
    default:
      return "";
  }
}

function row(receipt) {
  const decision = receipt.decision === "ALLOW" ? green(receipt.decision) : receipt.decision === "DENY" ? red(receipt.decision) : yellow(receipt.decision);
  return [
    String(receipt.n).padStart(5),
    new Date(receipt.at).toISOString(),
    receipt.kind.padEnd(9),
    String(receipt.stage).padEnd(12),
    decision.padEnd(color ? 17 : 8),
    String(receipt.code ?? "").padEnd(20),
    actorOf(receipt) ?? "",
  ].join("  ");
}

async function auditVerify(path) {
  if (!values.jwks || !values.workflows) throw new UsageError("verify needs --jwks and --workflows");
  const keys = await loadKeys(values.jwks);
  const workflows = await loadWorkflows(values.workflows);
  const checker = new ChainChecker(keys);
  const bar = progress(path);
  const divergences = [];
  let replayer = null;
  let failure = null;
  if (!values.json) console.log(`${"n".padStart(5)}  ${"time".padEnd(24)}  ${"kind".padEnd(9)}  ${"stage".padEnd(12)}  ${"decision".padEnd(8)}  ${"code".padEnd(20)}  actor`);
  for await (const { line, prepared } of preparedLines(path, checker)) {
    bar.tick(line);
    const checked = checker.accept(await prepared);
    if (!checked.ok) {
      failure = { n: checked.n, reason: checked.reason };
      break;
    }
    const receipt = checked.receipt;
    if (!replayer) {
      const workflow = workflows.get(receipt.workflow);
      if (!workflow) throw new UsageError(`no workflow of version ${receipt.workflow} in ${values.workflows}`);
      replayer = new Replayer(workflow, "audit");
    }
    let divergence;
    try {
      divergence = await replayer.step(receipt);
    } catch (error) {
      failure = { n: receipt.n, reason: `receipt ${receipt.n}: cannot be replayed: ${error.message}` };
      break;
    }
    if (divergence) divergences.push(divergence);
    if (!values.json) console.log(row(receipt) + (divergence ? red(`   ← replay says ${divergence.replayed.decision} ${divergence.replayed.code ?? ""}`) : ""));
  }
  bar.done();
  if (!failure && checker.length === 0) failure = { n: 0, reason: "the export holds no receipts" };
  if (!failure && values.head) {
    const text = readText(values.head, "head").trim();
    let signed = text;
    if (text.startsWith("{")) signed = JSON.parse(text).signed_head ?? "";
    const problem = await checker.checkHead(signed);
    if (problem) failure = { n: checker.length, reason: problem };
  }
  if (!failure && divergences.length > 0) {
    const first = divergences[0];
    const said = (d) => [d.decision, d.code].filter(Boolean).join(" ");
    failure = { n: first.n, reason: `receipt ${first.n}: recorded ${said(first.recorded)}, replay gives ${said(first.replayed)}` };
  }
  const verdict = { valid: failure === null, receipts: checker.length, sealed: checker.sealed, head: checker.head, divergences, failure };
  if (values.json) console.log(JSON.stringify(verdict, null, 2));
  else if (failure) console.log(`\n${red("INVALID")}: ${failure.reason}`);
  else console.log(`\n${green("VALID")}: ${checker.length} receipts, signatures and links verified, every decision replayed identically${checker.sealed ? ", sealed" : ""}${values.head ? ", signed head matches" : ""}.`);
  return failure ? 1 : 0;
}

async function auditWhatif(path) {
  if (!values.workflows) throw new UsageError("whatif needs --workflows <dir of the new versions>");
  const workflows = await loadWorkflows(values.workflows);
  const keys = values.jwks ? await loadKeys(values.jwks) : null;
  const checker = keys ? new ChainChecker(keys) : null;
  const changes = [];
  let replayer = null;
  let count = 0;
  for await (const line of lines(path)) {
    let receipt;
    if (checker) {
      const checked = await checker.push(line);
      if (!checked.ok) {
        console.error(`the export does not verify: ${checked.reason}`);
        return 1;
      }
      receipt = checked.receipt;
    } else {
      try {
        receipt = JSON.parse(new TextDecoder().decode(base64url.decode(line.split(".")[1])));
      } catch {
        throw new UsageError(`line ${count + 1} is not a receipt`);
      }
    }
    if (!replayer) {
      const workflow = pickWhatifWorkflow(workflows, receipt);
      replayer = new Replayer(workflow, "whatif");
      if (!values.json) console.log(`replaying ${receipt.seq} (recorded under ${receipt.workflow}) under ${workflow.id} version ${workflow.hash}\n`);
    }
    const divergence = await replayer.step(receipt);
    count++;
    if (divergence && divergence.what !== "effects") {
      changes.push(divergence);
      if (!values.json) {
        const before = `${divergence.recorded.decision} ${divergence.recorded.code ?? ""}`.trim();
        const after = `${divergence.replayed.decision} ${divergence.replayed.code ?? ""}`.trim();
        console.log(`${String(divergence.n).padStart(5)}  ${divergence.kind.padEnd(9)}  ${divergence.stage.padEnd(12)}  ${before} → ${yellow(after)}${divergence.condition ? `   (${divergence.condition})` : ""}`);
      }
    }
  }
  if (values.json) console.log(JSON.stringify({ decisions: count, changed: changes.length, changes }, null, 2));
  else console.log(`\n${changes.length} of ${count} decisions would change.`);
  return 0;
}

/** The new version to ask: --workflow <id>, or the only workflow in the directory. */
function pickWhatifWorkflow(workflows, receipt) {
  const candidates = [...workflows.values()];
  if (values.workflow) {
    const found = candidates.find((w) => w.id === values.workflow);
    if (!found) throw new UsageError(`no workflow ${values.workflow} in ${values.workflows}`);
    return found;
  }
  if (candidates.length !== 1) throw new UsageError(`${values.workflows} holds ${candidates.length} workflows: name one with --workflow <id> (the chain's version is ${receipt.workflow})`);
  return candidates[0];
}

const KINDS = Object.fromEntries(Object.entries(TYP).map(([kind, typ]) => [typ, kind]));
KINDS["dpop+jwt"] = "dpop proof";

async function inspect(input) {
  if (!input) throw new UsageError("inspect needs a token, a file holding one, or - for standard input");
  let token = input === "-" ? readFileSync(0, "utf8") : input;
  if (input !== "-" && !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(input)) token = readText(input, "token");
  token = token.trim();
  let header;
  let claims;
  try {
    header = decodeProtectedHeader(token);
    claims = JSON.parse(new TextDecoder().decode(base64url.decode(token.split(".")[1])));
  } catch {
    throw new UsageError("not a compact JWS");
  }
  const kind = KINDS[String(header.typ).toLowerCase()] ?? `unknown (typ ${header.typ})`;
  let signature = "not checked (no --jwks)";
  let valid = true;
  if (values.jwks) {
    const keys = await loadKeys(values.jwks);
    const verified = await verifyJws(token, { typ: String(header.typ).toLowerCase(), algorithms: ["EdDSA", "ES256"], resolveKey: keys });
    valid = verified.ok;
    signature = verified.ok ? `valid (kid ${verified.kid})` : `INVALID: ${verified.message}`;
  }
  const human = (name, value) => {
    if (typeof value !== "number") return value;
    if (["iat", "nbf", "exp", "expires_at", "until"].includes(name)) return `${value} (${new Date(value * 1000).toISOString()})`;
    if (name === "at") return `${value} (${new Date(value).toISOString()})`;
    return value;
  };
  if (values.json) {
    console.log(JSON.stringify({ kind, header, claims, signature }, null, 2));
  } else {
    console.log(`kind       ${kind}`);
    console.log(`signature  ${valid ? signature : red(signature)}`);
    console.log(`header     ${JSON.stringify(header)}`);
    for (const [name, value] of Object.entries(claims)) {
      const shown = typeof value === "object" && value !== null ? JSON.stringify(value) : human(name, value);
      console.log(`${name.padEnd(10)} ${shown}`);
    }
  }
  return valid ? 0 : 1;
}

async function main() {
  const [command, sub, target] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return command || values.help ? 0 : 2;
  }
  if (command === "audit" && sub === "verify") return auditVerify(target ?? "");
  if (command === "audit" && sub === "whatif") return auditWhatif(target ?? "");
  if (command === "inspect") return inspect(sub);
  throw new UsageError(USAGE);
}

if (!approver) main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error instanceof UsageError ? error.message : `error: ${error.stack ?? error}`);
    process.exit(2);
  },
);
