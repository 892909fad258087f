import type { JWK } from "jose";
import { BatonClientError, type Decision, createClient, signAttestation } from "../client/index.js";
import { TOKEN_MAX_BYTES } from "../limits.js";
import type { Check, CheckFailure, CheckResult } from "./check.js";
import { describe, failed } from "./check.js";

/** Who signs, for which sequence and stage, and what the operator states beside the measurement. */
export interface AttestationTarget {
  attester: string;
  /** The attester's private JWK (with kid and alg). */
  privateJwk: JWK;
  seq: string;
  stage: string;
  type: string;
  /** Facts the operator states (service, version); the measured facts are added to them. */
  facts: Record<string, unknown>;
  /** Also record the measured value under this name, as a gate's CEL reads it (error_rate). */
  valueAs?: string;
}

export interface ProbeRunOptions {
  check: Check;
  attestation: AttestationTarget;
  /** Check again every intervalMs until a pass, or until timeoutMs have passed; without it, once. */
  watch?: { intervalMs: number; timeoutMs: number };
  /** Post the signed attestation to this Baton as evidence for its sequence. */
  submit?: { baseUrl: string; apiKey: string; fetch?: typeof fetch };
  /** Told of every check's result (the CLI prints them). */
  onCheck?: (result: CheckResult, attempt: number) => void;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** Baton's answer to a submission it did not accept (its error envelope), or why it gave none. */
export interface SubmitRefusal {
  code: string;
  message: string;
  status: number | null;
  details?: unknown;
  receipt: string | null;
}

export type ProbeOutcome =
  | { status: "signed"; attestation: string; facts: Record<string, unknown>; decision?: Decision }
  | { status: "not_accepted"; attestation: string; facts: Record<string, unknown>; refusal: SubmitRefusal }
  | { status: "failed"; last: CheckFailure; attempts: number; timedOut: boolean };

/**
 * Runs the check (again and again under `watch`) and signs only a pass, with the measured
 * facts; then submits it when asked. A failing check never reaches the key: the only call to
 * `signAttestation` is on the branch where the check passed.
 */
export async function runProbe(options: ProbeRunOptions): Promise<ProbeOutcome> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const deadline = now() + (options.watch?.timeoutMs ?? 0);
  for (let attempt = 1; ; attempt++) {
    const result = await options.check(now());
    options.onCheck?.(result, attempt);
    if (result.passed) return attest(options, result, now(), attempt);
    if (!options.watch || !result.retryable) return { status: "failed", last: result, attempts: attempt, timedOut: false };
    const remaining = deadline - now();
    if (remaining <= 0) return { status: "failed", last: result, attempts: attempt, timedOut: true };
    await sleep(Math.min(options.watch.intervalMs, remaining));
  }
}

/** The attestation's facts: the operator's, the value under its gate name, then what was measured (which wins). */
export function attestationFacts(target: Pick<AttestationTarget, "facts" | "valueAs">, result: Extract<CheckResult, { passed: true }>): Record<string, unknown> {
  const named = target.valueAs !== undefined && result.value !== undefined ? { [target.valueAs]: result.value } : {};
  return { ...target.facts, ...named, ...result.facts };
}

async function attest(options: ProbeRunOptions, result: Extract<CheckResult, { passed: true }>, nowMs: number, attempts: number): Promise<ProbeOutcome> {
  const { attestation: target } = options;
  const facts = attestationFacts(target, result);
  const jti = crypto.randomUUID();
  const attestation = await signAttestation({
    privateJwk: target.privateJwk,
    attester: target.attester,
    seq: target.seq,
    stage: target.stage,
    type: target.type,
    facts,
    iat: Math.floor(nowMs / 1000),
    jti,
  });
  if (attestation.length > TOKEN_MAX_BYTES) {
    // The query and --facts are capped so that this does not happen; if it still does, the
    // token is dropped here rather than handed to a gate that refuses it unread.
    const message = `the attestation would be ${attestation.length} bytes, more than Baton takes (${TOKEN_MAX_BYTES}): shorten the query or --facts`;
    return { status: "failed", last: failed("too_large", message, false), attempts, timedOut: false };
  }
  if (!options.submit) return { status: "signed", attestation, facts };
  const client = createClient(options.submit);
  try {
    // The jti as Idempotency-Key: a retried submission of this attestation is answered, not re-decided.
    const decision = await client.attester.submit(target.seq, attestation, { idempotencyKey: jti });
    return { status: "signed", attestation, facts, decision };
  } catch (error) {
    const refusal: SubmitRefusal =
      error instanceof BatonClientError
        ? { code: error.code, message: error.message, status: error.status, details: error.details, receipt: error.receipt }
        : { code: "UNREACHABLE", message: `Baton at ${options.submit.baseUrl} did not answer: ${describe(error)}`, status: null, receipt: null };
    return { status: "not_accepted", attestation, facts, refusal };
  }
}
