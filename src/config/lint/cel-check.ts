import { parse, unparse } from "@bufbuild/cel";
import {
  BOOL,
  DYN,
  INT,
  type Kind,
  NUMERIC,
  STRING,
  type Shape,
  arithmetic,
  comparableForEquality,
  describe,
  orderable,
  shapeOfSchema,
} from "./cel-types.js";

type Parsed = ReturnType<typeof parse>;
type Expr = NonNullable<Parsed["expr"]>;

export interface CelProblem {
  rule: "cel-parse" | "cel-undeclared" | "cel-unknown-param" | "cel-type-mismatch";
  severity: "error" | "warning";
  message: string;
}

export interface CelCheck {
  problems: CelProblem[];
  /** The `args` fields the expression reads (`args.amount`, `args["amount"]`). */
  args: ReadonlySet<string>;
}

/** Names CEL resolves to type values (`type(x) == int`), not variables. */
const TYPE_NAMES = new Set(["bool", "int", "uint", "double", "string", "bytes", "list", "map", "null_type", "type", "dyn"]);
const CONVERSIONS: Record<string, Kind> = { int: "int", uint: "uint", double: "double", string: "string", bool: "bool", bytes: "bytes", timestamp: "timestamp", duration: "duration", dyn: "dyn", type: "type" };
const STRING_METHODS = new Set(["startsWith", "endsWith", "contains", "matches"]);

/**
 * Types one CEL expression against the variables Baton binds where it is evaluated
 * (policy/cel.ts evaluates with exactly these; anything else is an error at run time).
 * @bufbuild/cel's own checker (0.6.1) types constants and identifiers only and is not
 * exported, so this walks its parser's AST: enough to catch a misnamed parameter and a
 * comparison or operator with no overload, each of which makes the condition fail for every request.
 */
export function checkCel(source: string, variables: Readonly<Record<string, Shape>>, expected: "bool" | "number"): CelCheck {
  const problems: CelProblem[] = [];
  const args = new Set<string>();
  let parsed: Parsed;
  try {
    parsed = parse(source);
  } catch (error) {
    return { problems: [{ rule: "cel-parse", severity: "error", message: `CEL parse error: ${(error as Error).message}` }], args };
  }
  const positions = parsed.sourceInfo?.positions ?? {};
  const at = (expr: Expr) => {
    const offset = positions[String(expr.id)];
    return offset === undefined ? "" : ` (column ${offset + 1})`;
  };
  const text = (expr: Expr): string | null => {
    try {
      return unparse(expr);
    } catch {
      return null; // comprehensions have no unparsed form
    }
  };
  const mismatch = (expr: Expr, message: string, severity: CelProblem["severity"] = "error") => problems.push({ rule: "cel-type-mismatch", severity, message: `${message}${at(expr)}` });

  /** A field of a value: a declared parameter, or a problem when the schema says there is none. */
  const field = (expr: Expr, of: Shape, name: string): Shape => {
    if (of.kind === "dyn") return DYN;
    if (of.kind !== "map") {
      mismatch(expr, `${describe(of, null)} has no field ${name}: the expression is an error at run time`);
      return DYN;
    }
    const path = `${of.name ?? "map"}.${name}`;
    const schema = of.schema;
    if (!schema) return DYN;
    if (schema.properties && Object.hasOwn(schema.properties, name)) return shapeOfSchema(schema.properties[name], path);
    if (typeof schema.additionalProperties === "object" && schema.additionalProperties !== null) return shapeOfSchema(schema.additionalProperties, path);
    if (schema.additionalProperties === false) {
      problems.push({ rule: "cel-unknown-param", severity: "error", message: `${path} is not in the params schema, which allows no other parameters: it is never set` });
    } else {
      problems.push({ rule: "cel-unknown-param", severity: "warning", message: `${path} is not in the params schema: whatever the orchestrator passes is unchecked` });
    }
    return { kind: "dyn", name: path };
  };

  const visit = (expr: Expr, scope: ReadonlyMap<string, Shape>): Shape => {
    const kind = expr.exprKind;
    switch (kind.case) {
      case "constExpr":
        return constant(kind.value.constantKind.case);
      case "identExpr": {
        const name = kind.value.name;
        const bound = scope.get(name) ?? variables[name];
        if (bound) return bound;
        if (TYPE_NAMES.has(name)) return { kind: "type" };
        const known = Object.keys(variables).join(" and ");
        problems.push({ rule: "cel-undeclared", severity: "error", message: `${name} is not defined here (this expression sees ${known})${at(expr)}` });
        return DYN;
      }
      case "selectExpr": {
        const operand = kind.value.operand;
        if (!operand) return DYN;
        const of = visit(operand, scope);
        if (operand.exprKind.case === "identExpr" && operand.exprKind.value.name === "args") args.add(kind.value.field);
        const result = field(expr, of, kind.value.field);
        return kind.value.testOnly ? BOOL : result;
      }
      case "callExpr": {
        const { function: fn, target, args: operands } = kind.value;
        const targetShape = target ? visit(target, scope) : null;
        const shapes = operands.map((operand) => visit(operand, scope));
        return call(expr, fn, targetShape, shapes, operands);
      }
      case "listExpr": {
        const elements = kind.value.elements.map((element) => visit(element, scope));
        const [first] = elements;
        const same = first !== undefined && elements.every((e) => e.kind === first.kind);
        return { kind: "list", element: same ? { kind: first.kind } : DYN };
      }
      case "structExpr":
        for (const entry of kind.value.entries) {
          if (entry.keyKind.case === "mapKey") visit(entry.keyKind.value, scope);
          if (entry.value) visit(entry.value, scope);
        }
        return kind.value.messageName === "" ? { kind: "map" } : DYN;
      case "comprehensionExpr": {
        const c = kind.value;
        const range = c.iterRange ? visit(c.iterRange, scope) : DYN;
        let item: Shape = DYN;
        if (range.kind === "list") item = range.element ?? DYN;
        else if (range.kind === "map") item = STRING;
        else if (range.kind !== "dyn") mismatch(expr, `${describe(range, c.iterRange ? text(c.iterRange) : null)} cannot be iterated`);
        const accu = c.accuInit ? visit(c.accuInit, scope) : DYN;
        const inner = new Map(scope).set(c.iterVar, item).set(c.accuVar, accu);
        if (c.iterVar2) inner.set(c.iterVar2, DYN);
        if (c.loopCondition) visit(c.loopCondition, inner);
        if (c.loopStep) visit(c.loopStep, inner);
        return c.result ? visit(c.result, new Map(scope).set(c.accuVar, accu)) : DYN;
      }
      default:
        return DYN;
    }
  };

  const call = (expr: Expr, fn: string, target: Shape | null, shapes: Shape[], operands: Expr[]): Shape => {
    const [a = DYN, b = DYN] = shapes;
    const [x, y] = operands;
    const operand = (shape: Shape, e: Expr | undefined) => describe(shape, e ? text(e) : null);
    switch (fn) {
      case "_&&_":
      case "_||_":
      case "!_":
      case "@not_strictly_false":
        shapes.forEach((shape, i) => {
          if (shape.kind !== "bool" && shape.kind !== "dyn") mismatch(expr, `${operand(shape, operands[i])} is not a bool: ${fn.replaceAll("_", "")} is an error at run time`);
        });
        return BOOL;
      case "_==_":
      case "_!=_":
        if (!comparableForEquality(a, b)) mismatch(expr, `${operand(a, x)} and ${operand(b, y)} are never equal: the comparison is always ${fn === "_==_" ? "false" : "true"}`);
        return BOOL;
      case "_<_":
      case "_<=_":
      case "_>_":
      case "_>=_":
        if (!orderable(a, b)) mismatch(expr, `${operand(a, x)} cannot be compared with ${operand(b, y)}: the comparison is an error at run time`);
        return BOOL;
      case "_+_":
      case "_-_":
      case "_*_":
      case "_/_":
      case "_%_": {
        const result = arithmetic(fn, a, b);
        const op = fn.replaceAll("_", "");
        if (result === null) {
          mismatch(expr, `${operand(a, x)} ${op} ${operand(b, y)} has no overload: the expression is an error at run time`);
          return DYN;
        }
        if (result === "mixed") {
          mismatch(expr, `${operand(a, x)} ${op} ${operand(b, y)}: a JSON number is an int when integral and a double otherwise, and CEL does not mix the two; convert with double() or int()`, "warning");
          return { kind: "number" };
        }
        return result;
      }
      case "-_":
        if (!NUMERIC.has(a.kind) && a.kind !== "dyn" && a.kind !== "duration") mismatch(expr, `${operand(a, x)} cannot be negated`);
        return a;
      case "_?_:_": {
        if (a.kind !== "bool" && a.kind !== "dyn") mismatch(expr, `${operand(a, x)} is not a bool: the conditional is an error at run time`);
        const c = shapes[2] ?? DYN;
        return b.kind === c.kind ? b : DYN;
      }
      case "_[_]": {
        const key = y?.exprKind.case === "constExpr" && y.exprKind.value.constantKind.case === "stringValue" ? String(y.exprKind.value.constantKind.value) : null;
        if (key !== null && x?.exprKind.case === "identExpr" && x.exprKind.value.name === "args") args.add(key);
        if (key !== null && a.kind === "map") return field(expr, a, key);
        if (a.kind === "list") {
          if (!NUMERIC.has(b.kind) && b.kind !== "dyn") mismatch(expr, `a list is indexed by a number, not ${operand(b, y)}`);
          return a.element ?? DYN;
        }
        if (a.kind !== "map" && a.kind !== "dyn") mismatch(expr, `${operand(a, x)} cannot be indexed`);
        return DYN;
      }
      case "@in":
        if (b.kind === "list" && !comparableForEquality(a, b.element ?? DYN)) mismatch(expr, `${operand(a, x)} is never in ${operand(b, y)}, whose elements are ${b.element?.kind}`);
        else if (b.kind === "map" && !comparableForEquality(a, STRING)) mismatch(expr, `${operand(a, x)} is never a key of ${operand(b, y)} (its keys are strings)`);
        else if (b.kind !== "list" && b.kind !== "map" && b.kind !== "dyn") mismatch(expr, `${operand(b, y)} is not a list or a map: in is an error at run time`);
        return BOOL;
      case "size": {
        const of = target ?? a;
        if (!["string", "bytes", "list", "map", "dyn"].includes(of.kind)) mismatch(expr, `${describe(of, null)} has no size`);
        return INT;
      }
      default:
        break;
    }
    if (STRING_METHODS.has(fn) && target) {
      for (const shape of [target, ...shapes]) if (shape.kind !== "string" && shape.kind !== "dyn") mismatch(expr, `${fn} takes strings, not ${describe(shape, null)}`);
      return BOOL;
    }
    const conversion = CONVERSIONS[fn];
    if (conversion && !target) return conversion === "dyn" ? a : { kind: conversion };
    return DYN;
  };

  const root = parsed.expr;
  if (root) {
    const result = visit(root, new Map());
    const fits = result.kind === "dyn" || (expected === "bool" ? result.kind === "bool" : NUMERIC.has(result.kind));
    if (!fits) {
      const consequence = expected === "bool" ? "not a bool: the condition always fails" : "not a number: the limit is an error for every use";
      mismatch(root, `the expression is ${describe(result, text(root))}, ${consequence}`);
    }
  }
  return { problems, args };
}

function constant(kind: string | undefined): Shape {
  switch (kind) {
    case "boolValue":
      return BOOL;
    case "int64Value":
      return INT;
    case "uint64Value":
      return { kind: "uint" };
    case "doubleValue":
      return { kind: "double" };
    case "stringValue":
      return STRING;
    case "bytesValue":
      return { kind: "bytes" };
    case "nullValue":
      return { kind: "null" };
    default:
      return DYN;
  }
}
