// The times of a test file: absolute (ISO 8601 with a zone) or offsets (`+10s`, `-1h30m`).
// Everything the runner decides is at one of these times: no clock is ever read.

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d{1,3})?)?(Z|[+-]\d\d:\d\d)$/;
const OFFSET = /^([+-])((?:\d+(?:ms|s|m|h|d))+)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export type TimeSpec = { at: number } | { offset: number };

/** A time as the file spells it, in milliseconds: absolute, or an offset; null when it is neither. */
export function parseTime(text: string): TimeSpec | null {
  if (ISO.test(text)) {
    const at = Date.parse(text);
    return Number.isFinite(at) ? { at } : null;
  }
  const match = OFFSET.exec(text);
  if (!match) return null;
  let offset = 0;
  for (const [, amount, unit] of (match[2] ?? "").matchAll(/(\d+)(ms|s|m|h|d)/g)) offset += Number(amount) * (UNIT_MS[unit ?? ""] ?? 0);
  return { offset: match[1] === "-" ? -offset : offset };
}

export function isTime(text: string): boolean {
  return parseTime(text) !== null;
}

/** `text` resolved against `base` (milliseconds); an absolute time stands alone. */
export function timeFrom(text: string, base: number): number {
  const spec = parseTime(text);
  if (!spec) throw new RangeError(`not a time: ${text}`);
  return "at" in spec ? spec.at : base + spec.offset;
}

/** Seconds since the epoch, as JWT times are written. */
export function seconds(ms: number): number {
  return Math.floor(ms / 1000);
}
