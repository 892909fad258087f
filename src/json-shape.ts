import { z } from "zod";
import { JSON_MAX_ARRAY_ITEMS, JSON_MAX_DEPTH, JSON_MAX_OBJECT_KEYS } from "./limits.js";

/**
 * Why a JSON value is too deep or too wide to be handled safely (nested past
 * JSON_MAX_DEPTH, an array past JSON_MAX_ARRAY_ITEMS, an object past
 * JSON_MAX_OBJECT_KEYS), or null. Iterative, so a hostile value cannot exhaust
 * the stack here — or later in CEL binding, hashing or canonicalization.
 */
export function jsonShapeProblem(value: unknown): string | null {
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const { value: current, depth } = stack.pop() as { value: unknown; depth: number };
    if (current === null || typeof current !== "object") continue;
    if (depth >= JSON_MAX_DEPTH) return `nested deeper than ${JSON_MAX_DEPTH} levels`;
    const children = Array.isArray(current) ? current : Object.values(current);
    if (Array.isArray(current) && current.length > JSON_MAX_ARRAY_ITEMS) return `an array has more than ${JSON_MAX_ARRAY_ITEMS} items`;
    if (!Array.isArray(current) && children.length > JSON_MAX_OBJECT_KEYS) return `an object has more than ${JSON_MAX_OBJECT_KEYS} members`;
    for (const child of children) stack.push({ value: child, depth: depth + 1 });
  }
  return null;
}

/** A JSON object of bounded shape: request arguments, sequence parameters, attestation facts. */
export function boundedJsonObject() {
  return z.record(z.string(), z.unknown()).superRefine((value, ctx) => {
    const problem = jsonShapeProblem(value);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });
}
