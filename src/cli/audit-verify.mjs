// `baton audit verify`: every signature and link of an export, then every decision
// replayed through the Worker's own decide(); optionally against a signed head; every passkey
// approval re-verified from its recorded assertion and the credential log; every accepted workload
// token re-verified under the issuer's key its receipt recorded.
import { statSync } from "node:fs";
import { ChainChecker, PasskeyApprovalAuditor, Replayer, passkeyApprovalOf, workloadTokenProblem } from "baton/audit";
import { auditInputs } from "./audit-inputs.mjs";
import { UsageError, color, green, red, yellow } from "./cli-io.mjs";

/** The chain's lines, each with its signature check and hash started up to PREPARE_AHEAD lines ahead. */
const PREPARE_AHEAD = 32;
async function* preparedLines(source, checker) {
  const ahead = [];
  for await (const line of source) {
    ahead.push({ line, prepared: checker.prepare(line) });
    if (ahead.length >= PREPARE_AHEAD) yield ahead.shift();
  }
  yield* ahead;
}

function progress(path, quiet) {
  if (!process.stderr.isTTY || quiet) return { tick() {}, done() {} };
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
      return inputs.attestation?.ok ? (inputs.attestation.attester ?? inputs.attestation.claims.iss) : "?";
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

export async function auditVerify(path, values) {
  const inputs = await auditInputs(path, values);
  const { keys, workflows } = inputs;
  const checker = new ChainChecker(keys);
  const bar = progress(path, values.json);
  const divergences = [];
  let replayer = null;
  let failure = null;
  let passkeys = null;
  let passkeyApprovals = 0;
  let workloadTokens = 0;
  if (inputs.credentials) {
    const built = await PasskeyApprovalAuditor.fromListing(inputs.credentials, keys);
    if (!built.ok) failure = { n: 0, reason: `credentials: ${built.reason}` };
    else passkeys = built.auditor;
  }
  if (!values.json) console.log(`${"n".padStart(5)}  ${"time".padEnd(24)}  ${"kind".padEnd(9)}  ${"stage".padEnd(12)}  ${"decision".padEnd(8)}  ${"code".padEnd(20)}  actor`);
  for await (const { line, prepared } of failure ? [] : preparedLines(inputs.lines, checker)) {
    bar.tick(line);
    const checked = checker.accept(await prepared);
    if (!checked.ok) {
      failure = { n: checked.n, reason: checked.reason };
      break;
    }
    const receipt = checked.receipt;
    if (!replayer) {
      const workflow = workflows.get(receipt.workflow);
      if (!workflow) throw new UsageError(`no workflow of version ${receipt.workflow} in ${values.workflows ?? "the bundle"}`);
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
    if (passkeyApprovalOf(receipt)) {
      passkeyApprovals++;
      const problem = passkeys ? await passkeys.check(receipt) : `receipt ${receipt.n}: a passkey approval, and no credentials to verify it (--credentials, or an evidence bundle)`;
      if (problem) {
        failure = { n: receipt.n, reason: problem };
        break;
      }
    }
    if (receipt.inputs?.kind === "evidence" && receipt.inputs.attestation?.method === "oidc") {
      workloadTokens++;
      const problem = await workloadTokenProblem(receipt);
      if (problem) {
        failure = { n: receipt.n, reason: problem };
        break;
      }
    }
    if (!values.json) console.log(row(receipt) + (divergence ? red(`   ← replay says ${divergence.replayed.decision} ${divergence.replayed.code ?? ""}`) : ""));
  }
  bar.done();
  if (!failure && checker.length === 0) failure = { n: 0, reason: "the export holds no receipts" };
  if (!failure && inputs.signedHead !== null) {
    const problem = await checker.checkHead(inputs.signedHead);
    if (problem) failure = { n: checker.length, reason: problem };
  }
  if (!failure && divergences.length > 0) {
    const first = divergences[0];
    const said = (d) => [d.decision, d.code].filter(Boolean).join(" ");
    failure = { n: first.n, reason: `receipt ${first.n}: recorded ${said(first.recorded)}, replay gives ${said(first.replayed)}` };
  }
  const verdict = { valid: failure === null, receipts: checker.length, sealed: checker.sealed, head: checker.head, passkey_approvals: passkeyApprovals, workload_tokens: workloadTokens, divergences, failure };
  if (values.json) console.log(JSON.stringify(verdict, null, 2));
  else if (failure) console.log(`\n${red("INVALID")}: ${failure.reason}`);
  else console.log(`\n${green("VALID")}: ${checker.length} receipts, signatures and links verified, every decision replayed identically${passkeyApprovals ? `, ${passkeyApprovals} passkey approvals re-verified` : ""}${workloadTokens ? `, ${workloadTokens} workload tokens re-verified under their issuers' recorded keys` : ""}${checker.sealed ? ", sealed" : ""}${inputs.signedHead !== null ? ", signed head matches" : ""}.`);
  return failure ? 1 : 0;
}
