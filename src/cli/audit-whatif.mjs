// `baton audit whatif`: replays an export's decisions under another workflow version
// and lists those that would change.
import { base64url } from "jose";
import { ChainChecker, Replayer } from "baton/audit";
import { UsageError, lines, loadKeys, loadWorkflows, yellow } from "./cli-io.mjs";

export async function auditWhatif(path, values) {
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
      const workflow = pickWorkflow(workflows, receipt, values);
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
function pickWorkflow(workflows, receipt, values) {
  const candidates = [...workflows.values()];
  if (values.workflow) {
    const found = candidates.find((w) => w.id === values.workflow);
    if (!found) throw new UsageError(`no workflow ${values.workflow} in ${values.workflows}`);
    return found;
  }
  if (candidates.length !== 1) throw new UsageError(`${values.workflows} holds ${candidates.length} workflows: name one with --workflow <id> (the chain's version is ${receipt.workflow})`);
  return candidates[0];
}
