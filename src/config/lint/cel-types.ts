/**
 * The types lint gives CEL values, from the JSON Schema of a workflow's `params`.
 * Baton's evaluator (policy/cel.ts) turns an integral JSON number into a CEL `int`
 * and any other into a `double`, so a schema `"type": "number"` is neither for sure:
 * it is the kind `number` here, and arithmetic mixing it is only a warning.
 */
export type Kind =
  | "dyn"
  | "bool"
  | "int"
  | "uint"
  | "double"
  | "number"
  | "string"
  | "bytes"
  | "null"
  | "timestamp"
  | "duration"
  | "list"
  | "map"
  | "type";

export interface Shape {
  readonly kind: Kind;
  /** A list's elements. */
  readonly element?: Shape;
  /** An object a JSON Schema describes (params and the objects in it): its fields are checked. */
  readonly schema?: JsonSchemaObject;
  /** Where the value comes from, for messages: `params.total`. */
  readonly name?: string;
}

export interface JsonSchemaObject {
  properties?: Record<string, unknown>;
  additionalProperties?: unknown;
}

export const DYN: Shape = { kind: "dyn" };
export const BOOL: Shape = { kind: "bool" };
export const INT: Shape = { kind: "int" };
export const STRING: Shape = { kind: "string" };

export const NUMERIC: ReadonlySet<Kind> = new Set(["int", "uint", "double", "number"]);

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/** The shape of a value a JSON Schema allows; dyn wherever the schema admits more than one kind. */
export function shapeOfSchema(schema: unknown, name: string): Shape {
  if (!isObject(schema)) return { kind: "dyn", name };
  if ("const" in schema) return { ...shapeOfValue(schema.const), name };
  if (Array.isArray(schema.enum) && schema.enum.length > 0) {
    const kinds = new Set(schema.enum.map((value) => shapeOfValue(value).kind));
    const [only] = kinds;
    return kinds.size === 1 && only ? { kind: only, name } : { kind: "dyn", name };
  }
  switch (schema.type) {
    case "string":
      return { kind: "string", name };
    case "integer":
      return { kind: "int", name };
    case "number":
      return { kind: "number", name };
    case "boolean":
      return { kind: "bool", name };
    case "null":
      return { kind: "null", name };
    case "array":
      return { kind: "list", element: shapeOfSchema(schema.items, `${name}[]`), name };
    case "object":
      return { kind: "map", schema, name };
    default:
      // No type, a list of types, anyOf/oneOf, $ref: any value may come; nothing to check.
      return { kind: "dyn", name };
  }
}

function shapeOfValue(value: unknown): Shape {
  if (typeof value === "string") return STRING;
  if (typeof value === "boolean") return BOOL;
  if (typeof value === "number") return Number.isSafeInteger(value) ? INT : { kind: "double" };
  if (value === null) return { kind: "null" };
  if (Array.isArray(value)) return { kind: "list", element: DYN };
  return { kind: "map" };
}

/** `params.total (int)`, `"abc" (string)`: how a message names an operand. */
export function describe(shape: Shape, source: string | null): string {
  const kind = shape.kind === "number" ? "number: int or double" : shape.kind;
  return `${shape.name ?? source ?? "the expression"} (${kind})`;
}

/** Whether values of two shapes can be equal (CEL's == across kinds is false, not an error). */
export function comparableForEquality(a: Shape, b: Shape): boolean {
  if (a.kind === "dyn" || b.kind === "dyn" || a.kind === "null" || b.kind === "null") return true;
  if (NUMERIC.has(a.kind) && NUMERIC.has(b.kind)) return true;
  return a.kind === b.kind;
}

/** Whether `<` and friends have an overload for the two (CEL compares numbers across int, uint and double). */
export function orderable(a: Shape, b: Shape): boolean {
  if (a.kind === "dyn" || b.kind === "dyn") return true;
  if (NUMERIC.has(a.kind) && NUMERIC.has(b.kind)) return true;
  return a.kind === b.kind && ["string", "bytes", "bool", "timestamp", "duration"].includes(a.kind);
}

/**
 * The result of an arithmetic operator, `"mixed"` when it depends on whether a JSON number is
 * integral, or null when no overload exists (an error at evaluation, whatever the values).
 */
export function arithmetic(op: string, a: Shape, b: Shape): Shape | "mixed" | null {
  if (a.kind === "dyn" || b.kind === "dyn") return DYN;
  if (NUMERIC.has(a.kind) && NUMERIC.has(b.kind)) {
    if (op === "_%_" && (a.kind === "double" || b.kind === "double")) return null;
    if (a.kind === b.kind && a.kind !== "number") return { kind: a.kind };
    // A JSON number is an int or a double; with an int, a double or another JSON number, one of the two fails.
    if ((a.kind === "number" || b.kind === "number") && a.kind !== "uint" && b.kind !== "uint") return "mixed";
    return null;
  }
  const pair = `${a.kind} ${b.kind}`;
  if (op === "_+_") {
    if (a.kind === b.kind && ["string", "bytes", "list", "duration"].includes(a.kind)) return { kind: a.kind, ...(a.element ? { element: a.element } : {}) };
    if (pair === "timestamp duration" || pair === "duration timestamp") return { kind: "timestamp" };
  }
  if (op === "_-_") {
    if (pair === "timestamp timestamp" || pair === "duration duration") return { kind: "duration" };
    if (pair === "timestamp duration") return { kind: "timestamp" };
  }
  return null;
}
