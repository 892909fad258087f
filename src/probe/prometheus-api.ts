import { z } from "zod";
import { CHECK_REQUEST_TIMEOUT_MS, type CheckFailureReason, describe } from "./check.js";

/** A Prometheus answer larger than this is refused unread: a probe's query reduces to one series. */
export const PROMETHEUS_RESPONSE_MAX_BYTES = 1024 * 1024;

// The HTTP API's envelope (https://prometheus.io/docs/prometheus/latest/querying/api/):
// a sample is [unix seconds, "value as a string"] so that NaN and ±Inf survive JSON.
const Sample = z.tuple([z.number(), z.string()]);
const Labels = z.record(z.string(), z.string());
const ResultData = z.discriminatedUnion("resultType", [
  z.object({ resultType: z.literal("vector"), result: z.array(z.object({ metric: Labels, value: Sample })) }),
  z.object({ resultType: z.literal("matrix"), result: z.array(z.object({ metric: Labels, values: z.array(Sample) })) }),
  z.object({ resultType: z.literal("scalar"), result: Sample }),
  z.object({ resultType: z.literal("string"), result: Sample }),
]);
const ApiResponse = z.discriminatedUnion("status", [
  z.object({ status: z.literal("success"), data: ResultData }),
  z.object({ status: z.literal("error"), errorType: z.string(), error: z.string() }),
]);

/** One point of one series: when (ms since the epoch) and the value (NaN and ±Inf kept). */
export interface Point {
  atMs: number;
  value: number;
}

/** The series a query returned, each as its points; or why there are none to look at. */
export type QueryAnswer = { ok: true; series: Point[][] } | { ok: false; reason: CheckFailureReason; message: string; retryable: boolean };

export interface PrometheusQuery {
  /** Prometheus's base URL (credentials already moved to `headers`). */
  url: string;
  headers: Record<string, string>;
  query: string;
  /** An instant query at `atMs`, or a range query over [startMs, endMs] every stepMs. */
  at: { atMs: number } | { startMs: number; endMs: number; stepMs: number };
  fetch: typeof fetch;
}

const seconds = (ms: number) => (ms / 1000).toFixed(3);
const pointOf = ([at, value]: [number, string]): Point => ({ atMs: Math.round(at * 1000), value: Number(value) });

/**
 * Runs one query against Prometheus's HTTP API and reads the answer through its schema. POST
 * with a form body, which the API accepts for both endpoints, keeps long queries out of URLs.
 */
export async function queryPrometheus(q: PrometheusQuery): Promise<QueryAnswer> {
  const range = "stepMs" in q.at;
  const form = new URLSearchParams({ query: q.query });
  if ("stepMs" in q.at) {
    form.set("start", seconds(q.at.startMs));
    form.set("end", seconds(q.at.endMs));
    form.set("step", seconds(q.at.stepMs));
  } else {
    form.set("time", seconds(q.at.atMs));
  }
  const endpoint = new URL(range ? "api/v1/query_range" : "api/v1/query", q.url.endsWith("/") ? q.url : `${q.url}/`);
  let status: number;
  let text: string;
  try {
    const response = await q.fetch(endpoint, {
      method: "POST",
      headers: { ...q.headers, "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      body: form,
      signal: AbortSignal.timeout(CHECK_REQUEST_TIMEOUT_MS),
    });
    status = response.status;
    const body = await readCapped(response, PROMETHEUS_RESPONSE_MAX_BYTES);
    if (body === null) {
      const message = `Prometheus's answer is larger than ${PROMETHEUS_RESPONSE_MAX_BYTES} bytes: reduce the query to one series (e.g. sum(...))`;
      return { ok: false, reason: "many_series", message, retryable: false };
    }
    text = body;
  } catch (error) {
    return { ok: false, reason: "unreachable", message: `Prometheus at ${q.url} did not answer: ${describe(error)}`, retryable: true };
  }
  let parsed: z.infer<typeof ApiResponse>;
  try {
    parsed = ApiResponse.parse(JSON.parse(text));
  } catch {
    return { ok: false, reason: "upstream_error", message: `Prometheus at ${q.url} answered HTTP ${status} without an API response: ${text.slice(0, 200)}`, retryable: true };
  }
  if (parsed.status === "error") {
    // bad_data is the query itself (syntax, a range too fine): checking again cannot help.
    const rejected = parsed.errorType === "bad_data";
    return { ok: false, reason: rejected ? "query_rejected" : "upstream_error", message: `Prometheus refused the query (${parsed.errorType}): ${parsed.error}`, retryable: !rejected };
  }
  const { data } = parsed;
  switch (data.resultType) {
    case "vector":
      return { ok: true, series: data.result.map((s) => [pointOf(s.value)]) };
    case "matrix":
      return { ok: true, series: data.result.map((s) => s.values.map(pointOf)) };
    case "scalar":
      return { ok: true, series: [[pointOf(data.result)]] };
    case "string":
      return { ok: false, reason: "query_rejected", message: "the query returns a string, not a number", retryable: false };
  }
}

/** The body as text, or null past `maxBytes` (read no further, whatever Content-Length claims). */
async function readCapped(response: Response, maxBytes: number): Promise<string | null> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}
