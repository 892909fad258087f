/** How bad a finding is: an error is a workflow that cannot work as written; a warning, one that may not mean what it says. */
export type Severity = "error" | "warning";

/** The rules, by their stable id (what `--json` consumers and tests match on, never the message). */
export type LintRule =
  | "json"
  | "schema"
  | "params-schema"
  | "uses-zero"
  | "ttl-beyond-max"
  | "stage-without-grants"
  | "unknown-issuer"
  | "approval-group-too-small"
  | "outcome-not-granted"
  | "unknown-signal"
  | "unreachable-stage"
  | "cel-parse"
  | "cel-undeclared"
  | "cel-unknown-param"
  | "cel-type-mismatch"
  | "sum-unconstrained";

export interface LintFinding {
  severity: Severity;
  rule: LintRule;
  /** RFC 6901 JSON pointer into the linted document ("" is the whole document). */
  path: string;
  message: string;
}

export type Path = readonly (string | number)[];

/** `["stages", 1, "gate"]` → `/stages/1/gate` (RFC 6901: `~` and `/` escaped). */
export function pointer(path: Path): string {
  return path.map((part) => `/${String(part).replaceAll("~", "~0").replaceAll("/", "~1")}`).join("");
}

/** Collects findings; one per rule, path and message (an expression naming a parameter twice is one finding). */
export class Findings {
  readonly #all: LintFinding[] = [];
  readonly #seen = new Set<string>();

  add(severity: Severity, rule: LintRule, path: Path, message: string): void {
    const finding = { severity, rule, path: pointer(path), message };
    const key = `${rule}\u0000${finding.path}\u0000${message}`;
    if (this.#seen.has(key)) return;
    this.#seen.add(key);
    this.#all.push(finding);
  }

  error(rule: LintRule, path: Path, message: string): void {
    this.add("error", rule, path, message);
  }

  warning(rule: LintRule, path: Path, message: string): void {
    this.add("warning", rule, path, message);
  }

  /** In document order (array indices compared as numbers); findings at one path in the order they were made. */
  get list(): LintFinding[] {
    return [...this.#all].sort((a, b) => compareSegments(a.path.split("/"), b.path.split("/")));
  }
}

function compareSegments(a: string[], b: string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const [x = "", y = ""] = [a[i], b[i]];
    if (x === y) continue;
    const numeric = /^\d+$/.test(x) && /^\d+$/.test(y);
    return numeric ? Number(x) - Number(y) : x < y ? -1 : 1;
  }
  return a.length - b.length;
}
