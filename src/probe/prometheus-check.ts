import { type Check, type CheckFailure, endpointOf, failed, isoTime } from "./check.js";
import { formatDuration } from "./duration.js";
import { type Point, queryPrometheus } from "./prometheus-api.js";

/** The bound the measured value must keep: at most `max`, or at least `min`. */
export type Bound = { max: number } | { min: number };

/** A single evaluation now, or every `stepMs` over [startMs, endMs] (both ends included). */
export type Window = { atMs: number } | { startMs: number; endMs: number; stepMs: number };

export interface PrometheusCheckOptions {
  /** Prometheus's base URL, e.g. http://prometheus:9090 (user:password@ becomes Basic auth). */
  prometheus: string;
  /** A PromQL expression that reduces to one number (one series). */
  query: string;
  bound: Bound;
  /** How long the bound must have held, up to now; 0 checks the present value only. */
  forMs: number;
  /** Spacing of the points checked over `forMs` (default `defaultStepMs(forMs)`). */
  stepMs?: number;
  fetch?: typeof fetch;
}

/** The facts a Prometheus check measures: the operator's own `--facts` may not use these names. */
export const PROMETHEUS_FACTS = ["check", "prometheus", "query", "value", "threshold", "evaluated_at", "for_seconds", "step_seconds", "points"] as const;

/** Points per `--for` window by default: 5m is checked every 15 s, the usual scrape interval. */
export const WINDOW_DEFAULT_POINTS = 20;
/** Prometheus's native resolution; finer steps only repeat the same samples. */
export const WINDOW_MIN_STEP_MS = 1000;

export const defaultStepMs = (forMs: number) => Math.max(WINDOW_MIN_STEP_MS, Math.floor(forMs / WINDOW_DEFAULT_POINTS));

/** The window of a check run at `nowMs`. */
export function windowAt(nowMs: number, forMs: number, stepMs = defaultStepMs(forMs)): Window {
  return forMs > 0 ? { startMs: nowMs - forMs, endMs: nowMs, stepMs } : { atMs: nowMs };
}

export type WindowVerdict = { passed: true; worst: Point; points: number } | CheckFailure;

const describeBound = (bound: Bound) => ("max" in bound ? `the maximum ${bound.max}` : `the minimum ${bound.min}`);
const breaks = (bound: Bound, value: number) => ("max" in bound ? value > bound.max : value < bound.min);

/**
 * Whether the answer to a query shows the bound held at every point of the window: pure, so
 * every way to fail is pinned by unit tests. A point the window should have and the answer
 * lacks fails the check (`gap`): "held for 5 minutes" needs 5 minutes of measurements, and
 * a canary whose metrics began a minute ago has not shown that yet.
 */
export function judgeWindow(series: Point[][], window: Window, bound: Bound): WindowVerdict {
  const at = "atMs" in window ? window.atMs : window.endMs;
  if (series.length === 0) return failed("no_data", `the query returned no data at ${isoTime(at)}`);
  if (series.length > 1) {
    return failed("many_series", `the query returned ${series.length} series; a probe checks one number: aggregate them (sum, max, ...)`, false);
  }
  const points = series[0] ?? [];
  if ("stepMs" in window) {
    const present = new Set(points.map((p) => p.atMs));
    const expected = Math.floor((window.endMs - window.startMs) / window.stepMs) + 1;
    const missing: number[] = [];
    for (let k = 0; k < expected; k++) if (!present.has(window.startMs + k * window.stepMs)) missing.push(window.startMs + k * window.stepMs);
    if (missing.length > 0) {
      const span = formatDuration(window.endMs - window.startMs);
      return failed("gap", `no value at ${missing.length} of ${expected} points of the last ${span} (the first at ${isoTime(missing[0] ?? at)})`);
    }
  }
  const first = points[0];
  if (!first) return failed("no_data", `the query returned no data at ${isoTime(at)}`);
  const nonNumber = points.find((p) => !Number.isFinite(p.value));
  if (nonNumber) return failed("not_a_number", `the value at ${isoTime(nonNumber.atMs)} is ${nonNumber.value}, not a number to compare`);
  const worst = points.reduce((w, p) => ("max" in bound ? (p.value > w.value ? p : w) : p.value < w.value ? p : w), first);
  if (breaks(bound, worst.value)) {
    const count = points.filter((p) => breaks(bound, p.value)).length;
    const of = points.length > 1 ? ` (${count} of ${points.length} points)` : "";
    return failed("threshold", `the value ${worst.value} at ${isoTime(worst.atMs)} is ${"max" in bound ? "above" : "below"} ${describeBound(bound)}${of}`);
  }
  return { passed: true, worst, points: points.length };
}

/**
 * A check of a PromQL query against a bound, over a window when `forMs` is set. The facts
 * of a pass say what was measured, where and when: the query, the worst value the window
 * held (the highest under a maximum, the lowest above a minimum), the bound, the time.
 */
export function createPrometheusCheck(options: PrometheusCheckOptions): Check {
  const { url, headers } = endpointOf(options.prometheus);
  const recorded = url.replace(/\/+$/, "");
  const doFetch = options.fetch ?? ((input, init) => fetch(input, init));
  return async (nowMs) => {
    const window = windowAt(nowMs, options.forMs, options.stepMs);
    const answer = await queryPrometheus({ url, headers, query: options.query, at: window, fetch: doFetch });
    if (!answer.ok) return failed(answer.reason, answer.message, answer.retryable);
    const verdict = judgeWindow(answer.series, window, options.bound);
    if (!verdict.passed) return verdict;
    const facts: Record<string, unknown> = {
      check: "prometheus",
      prometheus: recorded,
      query: options.query,
      value: verdict.worst.value,
      threshold: options.bound,
      evaluated_at: isoTime("atMs" in window ? window.atMs : window.endMs),
    };
    if ("stepMs" in window) Object.assign(facts, { for_seconds: options.forMs / 1000, step_seconds: window.stepMs / 1000, points: verdict.points });
    return { passed: true, facts, value: verdict.worst.value };
  };
}
