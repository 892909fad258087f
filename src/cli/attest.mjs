// `baton attest probe …`: the probe attester. Checks a real system — a Prometheus query against
// a bound, or an HTTP health check — and signs an attestation with the attester's own key only
// when the check passes, with what it measured as the facts; prints it, or posts it to Baton as
// evidence. The checks, the watch loop and the signing are the probe library's (src/probe/).
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { importJWK } from "jose";
import { ProbeOptionsError, createHttpCheck, createPrometheusCheck, formatDuration, parseProbePlan, runProbe } from "baton/probe";
import { UsageError } from "./cli-io.mjs";

export const ATTEST_USAGE = `usage: baton attest probe <check> --attester <id> --key <private JWK file> --sequence <id> --stage <stage> --type <type> [options]
checks (one):
  --prometheus <url> --query <promql> (--max <n> | --min <n>) [--for <duration> [--step <duration>]]
        the query must reduce to one number; with --for, it must keep the bound at every step of
        the last <duration> (a range query; a step without a value fails the check)
  --http <url> [--expect-status <code>] [--max-latency <duration>]
        one GET; passes on the expected status (default 200) within the latency (default 10s)
attestation:
  --facts '<JSON object>'   stated facts beside the measured ones, e.g. '{"service":"checkout","version":"2.4.1"}'
  --value-as <name>         also record the measured value as facts.<name> (e.g. error_rate, as the gate's CEL reads it)
  --submit <baton url>      post it to POST /v1/sequences/<id>/evidence; --api-key <key> (or BATON_API_KEY)
  --watch                   check every --interval (default 15s) until a pass, for up to --timeout (default 10m)
durations: 500ms, 10s, 5m, 1h30m. A failing check never signs.
Prints the attestation (a compact JWS), or with --submit Baton's answer (JSON); each check on stderr.
Exit codes: 0 signed (and accepted), 1 the check did not pass (or --watch timed out), 2 usage, a key that
cannot sign, or a check that cannot pass as written (a query Prometheus rejects), 3 signed but Baton did not accept it.`;

const OPTIONS = {
  prometheus: { type: "string" },
  query: { type: "string" },
  max: { type: "string" },
  min: { type: "string" },
  for: { type: "string" },
  step: { type: "string" },
  http: { type: "string" },
  "expect-status": { type: "string" },
  "max-latency": { type: "string" },
  attester: { type: "string" },
  key: { type: "string" },
  sequence: { type: "string" },
  stage: { type: "string" },
  type: { type: "string" },
  facts: { type: "string" },
  "value-as": { type: "string" },
  watch: { type: "boolean" },
  interval: { type: "string" },
  timeout: { type: "string" },
  submit: { type: "string" },
  "api-key": { type: "string" },
  help: { type: "boolean", short: "h" },
};

/** `baton attest <sub> …` with the arguments after `attest`; resolves to the exit code. */
export async function attest(argv) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
  } catch (error) {
    throw new UsageError(`attest: ${error.message}\n${ATTEST_USAGE}`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(ATTEST_USAGE);
    return 0;
  }
  if (positionals[0] !== "probe" || positionals.length > 1) throw new UsageError(ATTEST_USAGE);
  const { help: _help, ...options } = values;
  let plan;
  try {
    plan = parseProbePlan(options, { apiKey: process.env.BATON_API_KEY });
  } catch (error) {
    if (error instanceof ProbeOptionsError) throw new UsageError(`attest probe: ${error.message}\n${ATTEST_USAGE}`);
    throw error;
  }
  const privateJwk = await readPrivateKey(plan.attestation.keyFile);
  const check = plan.check.kind === "prometheus" ? createPrometheusCheck(plan.check.options) : createHttpCheck(plan.check.options);
  if (plan.watch) log(`watching: a check every ${formatDuration(plan.watch.intervalMs)}, for up to ${formatDuration(plan.watch.timeoutMs)}`);
  const { keyFile: _keyFile, ...target } = plan.attestation;
  const outcome = await runProbe({
    check,
    attestation: { ...target, privateJwk },
    ...(plan.watch ? { watch: plan.watch } : {}),
    ...(plan.submit ? { submit: plan.submit } : {}),
    onCheck: (result, attempt) =>
      log(result.passed ? `check ${attempt} passed: ${summary(result.facts)}` : `check ${attempt} failed (${result.reason}): ${result.message}`),
  });
  if (outcome.status === "failed") {
    if (outcome.timedOut) log(`timed out after ${outcome.attempts} checks: nothing signed`);
    else log(outcome.last.retryable ? "nothing signed" : "nothing signed: the check cannot pass as written");
    return outcome.last.retryable ? 1 : 2;
  }
  const { type, seq, stage, attester } = plan.attestation;
  log(`signed ${type} for sequence ${seq}, stage ${stage}, as ${attester}`);
  if (outcome.status === "not_accepted") {
    const { code, message, status, details, receipt } = outcome.refusal;
    log(`Baton did not accept it: ${message}${status ? ` (HTTP ${status})` : ""}`);
    console.log(JSON.stringify({ error: { code, message, ...(details === undefined ? {} : { details }), receipt } }));
    return 3;
  }
  if (outcome.decision) {
    log(`Baton: ${outcome.decision.decision} ${outcome.decision.message}`);
    console.log(JSON.stringify(outcome.decision));
  } else {
    console.log(outcome.attestation);
  }
  return 0;
}

function log(line) {
  console.error(`probe: ${line}`);
}

/** One line of what a pass measured, for the operator watching stderr. */
function summary(facts) {
  if (facts.check === "http") return `${facts.url} answered ${facts.status} in ${facts.latency_ms} ms`;
  const bound = "max" in facts.threshold ? `max ${facts.threshold.max}` : `min ${facts.threshold.min}`;
  const window = facts.for_seconds ? ` over the last ${formatDuration(facts.for_seconds * 1000)} (${facts.points} points)` : "";
  return `value ${facts.value} (${bound})${window}`;
}

/** The attester's private JWK (a `//` comment member, as the example keys carry, is dropped). */
async function readPrivateKey(path) {
  let jwk;
  try {
    jwk = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new UsageError(`attest probe: cannot read the key ${path}: ${error.message}`);
  }
  const { "//": _comment, ...key } = jwk ?? {};
  if (typeof key.d !== "string" || typeof key.kid !== "string" || typeof key.alg !== "string") {
    throw new UsageError(`attest probe: ${path} is not a private JWK with kid and alg`);
  }
  try {
    await importJWK(key, key.alg);
  } catch (error) {
    throw new UsageError(`attest probe: ${path} cannot sign (${error.message})`);
  }
  return key;
}
