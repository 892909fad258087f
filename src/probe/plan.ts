import { z } from "zod";
import { AttestationClaimsSchema } from "../tokens/attestation.js";
import { parseDuration } from "./duration.js";
import { HTTP_FACTS, type HttpCheckOptions } from "./http-check.js";
import { type Bound, PROMETHEUS_FACTS, type PrometheusCheckOptions, defaultStepMs } from "./prometheus-check.js";

/** Bad options: the CLI prints the message and its usage, exit 2. Nothing was checked or signed. */
export class ProbeOptionsError extends Error {
  override readonly name = "ProbeOptionsError";
}

/**
 * The query and the operator's facts are capped so the signed attestation stays under Baton's
 * TOKEN_MAX_BYTES (8 KiB) after base64url: a probe should not wait ten minutes for a pass only
 * to sign a token the gate refuses unread (runProbe still drops one that would be too large).
 */
export const PROBE_QUERY_MAX_CHARS = 2048;
export const PROBE_FACTS_MAX_CHARS = 2048;
export const WATCH_DEFAULT_INTERVAL = "15s";
export const WATCH_DEFAULT_TIMEOUT = "10m";

/** What `baton attest probe` will do, checked before anything is measured. */
export interface ProbePlan {
  check: { kind: "prometheus"; options: PrometheusCheckOptions } | { kind: "http"; options: HttpCheckOptions };
  attestation: { attester: string; seq: string; stage: string; type: string; facts: Record<string, unknown>; valueAs?: string; keyFile: string };
  watch?: { intervalMs: number; timeoutMs: number };
  submit?: { baseUrl: string; apiKey: string };
}

const duration = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === null) ctx.addIssue({ code: "custom", message: `${JSON.stringify(text)} is not a duration (write 10s, 5m, 1h30m, 500ms)` });
  return ms ?? 0;
});
const finite = z.string().transform((text, ctx) => {
  const n = text.trim() === "" ? Number.NaN : Number(text);
  if (!Number.isFinite(n)) ctx.addIssue({ code: "custom", message: `${JSON.stringify(text)} is not a number` });
  return n;
});
const httpUrl = z.string().refine((text) => URL.canParse(text) && /^https?:$/.test(new URL(text).protocol), "must be an http:// or https:// URL");
const status = finite.refine((n) => Number.isInteger(n) && n >= 100 && n <= 599, "must be an HTTP status (100-599)");
// A CEL identifier, so that a gate reads it as attestation.facts.<name>.
const factName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, "must be a name a gate's CEL can read (letters, digits, _)");
const factsJson = z
  .string()
  .max(PROBE_FACTS_MAX_CHARS)
  .transform((text, ctx) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({ code: "custom", message: `is not JSON: ${text.slice(0, 80)}` });
      return z.NEVER;
    }
  })
  .pipe(AttestationClaimsSchema.shape.facts.unwrap());

const claims = AttestationClaimsSchema.shape;
const Options = z.object({
  prometheus: httpUrl.optional(),
  query: z.string().min(1).max(PROBE_QUERY_MAX_CHARS).optional(),
  max: finite.optional(),
  min: finite.optional(),
  for: duration.optional(),
  step: duration.optional(),
  http: httpUrl.optional(),
  "expect-status": status.optional(),
  "max-latency": duration.optional(),
  attester: claims.iss,
  key: z.string().min(1),
  sequence: claims.seq,
  stage: claims.stage,
  type: claims.type,
  facts: factsJson.optional(),
  "value-as": factName.optional(),
  watch: z.boolean().optional(),
  interval: duration.optional(),
  timeout: duration.optional(),
  submit: httpUrl.optional(),
  "api-key": z.string().min(1).optional(),
});
type Options = z.output<typeof Options>;

/** The options that only make sense beside another one. */
const NEEDS: [option: keyof Options, needs: keyof Options][] = [
  ["query", "prometheus"],
  ["max", "prometheus"],
  ["min", "prometheus"],
  ["for", "prometheus"],
  ["step", "for"],
  ["value-as", "prometheus"],
  ["expect-status", "http"],
  ["max-latency", "http"],
  ["interval", "watch"],
  ["timeout", "watch"],
  ["api-key", "submit"],
];

/**
 * Reads the options of `baton attest probe` (as node:util parseArgs gives them, strings and
 * booleans) into a plan, or throws ProbeOptionsError naming the first problem by its option.
 * `apiKey` is the BATON_API_KEY fallback for `--api-key`, which keeps the key out of `ps`.
 */
export function parseProbePlan(values: Record<string, unknown>, env: { apiKey?: string } = {}): ProbePlan {
  const parsed = Options.safeParse(values);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const option = issue?.path[0];
    const what = option !== undefined && values[String(option)] === undefined ? "is required" : issue?.message;
    throw new ProbeOptionsError(option === undefined ? `${what}` : `--${String(option)} ${what}`);
  }
  const o = parsed.data;
  const apiKey = o["api-key"] ?? env.apiKey;
  for (const [option, needs] of NEEDS) {
    if (o[option] !== undefined && !o[needs]) throw new ProbeOptionsError(`--${option} needs --${needs}`);
  }
  if ((o.prometheus === undefined) === (o.http === undefined)) throw new ProbeOptionsError("give one check: --prometheus <url> --query <promql>, or --http <url>");
  if (o.submit && !apiKey) throw new ProbeOptionsError("--submit needs --api-key (or BATON_API_KEY)");
  const attestation = {
    attester: o.attester,
    seq: o.sequence,
    stage: o.stage,
    type: o.type,
    facts: o.facts ?? {},
    keyFile: o.key,
    ...(o["value-as"] ? { valueAs: o["value-as"] } : {}),
  };
  const check = o.prometheus ? prometheusCheck(o, o.prometheus) : httpCheck(o, o.http ?? "");
  const measured: readonly string[] = check.kind === "prometheus" ? PROMETHEUS_FACTS : HTTP_FACTS;
  for (const name of [...Object.keys(attestation.facts), attestation.valueAs ?? ""]) {
    if (measured.includes(name)) throw new ProbeOptionsError(`the fact ${name} is what the probe measures; --facts and --value-as may not set it`);
  }
  if (attestation.valueAs && attestation.valueAs in attestation.facts) throw new ProbeOptionsError(`--value-as ${attestation.valueAs} is also in --facts`);
  return {
    check,
    attestation,
    ...(o.watch ? { watch: { intervalMs: o.interval ?? parseMs(WATCH_DEFAULT_INTERVAL), timeoutMs: o.timeout ?? parseMs(WATCH_DEFAULT_TIMEOUT) } } : {}),
    ...(o.submit && apiKey ? { submit: { baseUrl: o.submit, apiKey } } : {}),
  };
}

function prometheusCheck(o: Options, prometheus: string): ProbePlan["check"] {
  if (!o.query) throw new ProbeOptionsError("--prometheus needs --query <promql>");
  if ((o.max === undefined) === (o.min === undefined)) throw new ProbeOptionsError("--prometheus needs one bound: --max <n> or --min <n>");
  const bound: Bound = o.max !== undefined ? { max: o.max } : { min: o.min ?? 0 };
  const forMs = o.for ?? 0;
  const stepMs = o.step ?? (forMs > 0 ? defaultStepMs(forMs) : undefined);
  if (stepMs !== undefined && stepMs > forMs) throw new ProbeOptionsError("--step must not be longer than --for");
  return { kind: "prometheus", options: { prometheus, query: o.query, bound, forMs, ...(stepMs ? { stepMs } : {}) } };
}

function httpCheck(o: Options, url: string): ProbePlan["check"] {
  return {
    kind: "http",
    options: { url, ...(o["expect-status"] ? { expectStatus: o["expect-status"] } : {}), ...(o["max-latency"] ? { maxLatencyMs: o["max-latency"] } : {}) },
  };
}

const parseMs = (text: string) => parseDuration(text) ?? 0;
