import { formatPath } from "../../policy/compile.js";
import { ConfigSchema } from "../schema.js";

/** What lint needs of a deployment: who may attest, how many approvers each group has, which detectors run. */
export interface LintEnvironment {
  attesters: ReadonlySet<string>;
  /** Approvers per group. */
  groups: ReadonlyMap<string, number>;
  detectors: ReadonlySet<string>;
}

export type EnvironmentResult =
  | { ok: true; environment: LintEnvironment; workflows: readonly unknown[] }
  | { ok: false; issues: { path: string; message: string }[] };

/**
 * The environment of a Baton configuration document (the BATON_CONFIG a deployment
 * carries), validated with the configuration's own schema, and its workflows (unparsed:
 * they are what lint reads, findings and all).
 */
export function lintEnvironmentOf(config: unknown): EnvironmentResult {
  const parsed = ConfigSchema.safeParse(config);
  if (!parsed.success) {
    return { ok: false, issues: parsed.error.issues.map((issue) => ({ path: formatPath(issue.path), message: issue.message })) };
  }
  const groups = new Map<string, number>();
  for (const approver of parsed.data.approvers) {
    for (const group of new Set(approver.groups)) groups.set(group, (groups.get(group) ?? 0) + 1);
  }
  return {
    ok: true,
    environment: {
      attesters: new Set(parsed.data.attesters.map((a) => a.id)),
      groups,
      detectors: new Set(parsed.data.detectors.map((d) => d.id)),
    },
    workflows: parsed.data.workflows,
  };
}
