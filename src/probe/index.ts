/**
 * The probe attester: checks a real system (a Prometheus query against a bound, over a window;
 * an HTTP health check) and signs an attestation with the attester's own key only when the
 * check passes, with what it measured as the facts. `baton attest probe` (src/cli/attest.mjs)
 * is a thin shell over this. Web-standard APIs only (fetch, WebCrypto through jose), so the
 * same checks could run in a Worker's cron.
 *
 * @example
 * const check = createPrometheusCheck({ prometheus: "http://prometheus:9090", query, bound: { max: 0.01 }, forMs: 300_000 });
 * const outcome = await runProbe({ check, attestation: { attester: "monitor", privateJwk, seq, stage: "canary", type: "canary_passed", facts: {}, valueAs: "error_rate" } });
 * if (outcome.status === "signed") console.log(outcome.attestation);
 */
export { type AttestationTarget, type ProbeOutcome, type ProbeRunOptions, type SubmitRefusal, attestationFacts, runProbe } from "./attest.js";
export { type Check, type CheckFailure, type CheckFailureReason, type CheckResult, endpointOf } from "./check.js";
export { formatDuration, parseDuration } from "./duration.js";
export { HTTP_FACTS, type HttpCheckOptions, createHttpCheck } from "./http-check.js";
export { type ProbePlan, ProbeOptionsError, parseProbePlan } from "./plan.js";
export { type Point, queryPrometheus } from "./prometheus-api.js";
export { type Bound, PROMETHEUS_FACTS, type PrometheusCheckOptions, type Window, createPrometheusCheck, defaultStepMs, judgeWindow, windowAt } from "./prometheus-check.js";
