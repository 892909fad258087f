// What `baton audit verify` checks, from either input: an export (one JWS per line) with
// --jwks, --workflows and optionally --head and --credentials, or an evidence bundle
// (GET /v1/sequences/:id/bundle) that carries all of them — each of which a flag still overrides,
// so an auditor who holds Baton's keys from elsewhere pins them with --jwks.
import { compileWorkflow } from "baton/audit";
import { UsageError, isBundle, keysOf, lines, loadKeys, loadWorkflows, readJson, readText } from "./cli-io.mjs";

/** The chain's lines, the keys, the workflows by hash, the signed head and the credentials listing (or null). */
export async function auditInputs(path, values) {
  if (isBundle(path)) return bundleInputs(path, values);
  if (!values.jwks || !values.workflows) throw new UsageError("verify needs --jwks and --workflows (or an evidence bundle)");
  return {
    lines: lines(path),
    keys: await loadKeys(values.jwks),
    workflows: await loadWorkflows(values.workflows),
    signedHead: values.head ? headOf(readText(values.head, "head")) : null,
    credentials: values.credentials ? readJson(values.credentials, "credentials listing") : null,
  };
}

async function bundleInputs(path, values) {
  const bundle = readJson(path, "evidence bundle");
  if (!Array.isArray(bundle.receipts) || !bundle.receipts.every((r) => typeof r === "string")) {
    throw new UsageError(`${path} is not an evidence bundle: receipts must be a list of compact JWS`);
  }
  let workflows;
  if (values.workflows) workflows = await loadWorkflows(values.workflows);
  else if (bundle.workflow) {
    try {
      const compiled = await compileWorkflow(bundle.workflow);
      workflows = new Map([[compiled.hash, compiled]]);
    } catch (error) {
      throw new UsageError(`${path}: its workflow does not compile: ${error.message}`);
    }
  } else throw new UsageError(`${path} carries no workflow: give --workflows`);
  return {
    lines: bundle.receipts,
    keys: values.jwks ? await loadKeys(values.jwks) : await keysOf(bundle.jwks, `${path} (jwks)`),
    workflows,
    signedHead: values.head ? headOf(readText(values.head, "head")) : typeof bundle.signed_head === "string" ? bundle.signed_head : null,
    credentials: values.credentials ? readJson(values.credentials, "credentials listing") : (bundle.credentials ?? null),
  };
}

/** A head file holds the signed head, or the sequence's JSON with `signed_head`. */
function headOf(text) {
  const trimmed = text.trim();
  return trimmed.startsWith("{") ? (JSON.parse(trimmed).signed_head ?? "") : trimmed;
}
