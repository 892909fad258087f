import { type CelInput, celEnv, celList, celMap, isCelError, parse, plan } from "@bufbuild/cel";

/** Result of one condition: `true` allows; anything else (false, error, non-boolean) denies. */
export type ConditionResult = { ok: true } | { ok: false; reason: "false" | "error"; message: string };

export interface CompiledCondition {
  readonly source: string;
  evaluate(bindings: Record<string, unknown>): ConditionResult;
}

/** Result of a numeric expression (a cumulative limit): a finite number, or why not. */
export type NumberResult = { ok: true; value: number } | { ok: false; message: string };

export interface CompiledNumber {
  readonly source: string;
  evaluate(bindings: Record<string, unknown>): NumberResult;
}

/** Thrown at configuration time only; the message names the 1-based column when the parser gives one. */
export class CelCompileError extends Error {
  override readonly name = "CelCompileError";
}

const env = celEnv();

/**
 * Parses and plans a CEL expression once (a parse costs ~0.3 ms in workerd; a
 * planned evaluation a few µs), so this runs per workflow version, never per request.
 */
export function compileCondition(source: string): CompiledCondition {
  const program = planned(source);
  return {
    source,
    evaluate(bindings) {
      // Fail closed: an evaluator that throws or yields a CEL error must never be read as "allowed".
      const run = runProgram(program, bindings);
      if (!run.ok) return { ok: false, reason: "error", message: run.message };
      const { value } = run;
      if (value === true) return { ok: true };
      if (value === false) return { ok: false, reason: "false", message: `condition is false: ${source}` };
      return { ok: false, reason: "error", message: `condition did not evaluate to a bool: ${source}` };
    },
  };
}

/** A CEL expression that must yield a finite, non-negative number (int, uint or double). */
export function compileNumber(source: string): CompiledNumber {
  const program = planned(source);
  return {
    source,
    evaluate(bindings) {
      const run = runProgram(program, bindings);
      if (!run.ok) return run;
      const { value } = run;
      const number = typeof value === "bigint" ? Number(value) : value;
      if (typeof number !== "number" || !Number.isFinite(number) || number < 0) {
        return { ok: false, message: `${source} did not evaluate to a non-negative number` };
      }
      return { ok: true, value: number };
    },
  };
}

/** Runs a planned program; a throw and a CEL error value are both failures, with their message. */
function runProgram(program: ReturnType<typeof plan>, bindings: Parameters<CompiledNumber["evaluate"]>[0]): { ok: true; value: unknown } | { ok: false; message: string } {
  let value: unknown;
  try {
    value = program(toCel(bindings));
  } catch (error) {
    return { ok: false, message: `CEL evaluation threw: ${(error as Error).message}` };
  }
  if (isCelError(value)) return { ok: false, message: `CEL error: ${value.message}` };
  return { ok: true, value };
}

function planned(source: string): ReturnType<typeof plan> {
  try {
    return plan(env, parse(source));
  } catch (error) {
    const location = (error as { location?: { start?: { column?: number } } }).location;
    const column = location?.start?.column;
    const raw = (error as { rawMessage?: string }).rawMessage ?? (error as Error).message;
    throw new CelCompileError(column === undefined ? `CEL parse error: ${raw}` : `CEL parse error at column ${column}: ${raw}`);
  }
}

/**
 * The bindings as CEL values: JSON numbers that are integers become CEL `int` (bigint), so
 * `args.n + 1` and `args.amount <= 500` mean what a policy author expects; other numbers stay
 * `double`. Objects and arrays become CEL maps and lists here, once, as @bufbuild/cel would make
 * of them (a Map of the entries, the list itself): given a plain object it rebuilds that Map and
 * runs its input type checks again at every member access, most of an evaluation's time.
 */
function toCel(bindings: Record<string, unknown>): Record<string, CelInput> {
  const out: Record<string, CelInput> = {};
  for (const [name, value] of Object.entries(bindings)) out[name] = celValue(value);
  return out;
}

function celValue(value: unknown): CelInput {
  if (typeof value === "number") return Number.isSafeInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return celList(value.map(celValue));
  if (value !== null && typeof value === "object") {
    const entries = new Map<string, CelInput>();
    for (const [key, inner] of Object.entries(value)) entries.set(key, celValue(inner));
    return celMap(entries);
  }
  return value as CelInput;
}
