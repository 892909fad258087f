import { type CompiledWorkflow, WorkflowCompileError, compileWorkflow, formatPath } from "../policy/compile.js";
import type { ShadowEntry } from "./shadow-schema.js";

/** A candidate version of a workflow, as the ledgers run it in shadow. */
export interface ShadowCandidate {
  workflow: string;
  /** Null when the candidate does not compile; `issues` say why (paths from the configuration's root). */
  compiled: CompiledWorkflow | null;
  issues: { path: string; message: string }[];
}

/**
 * Compiles each candidate on its own. A failure is the candidate's, never the
 * configuration's: it is kept with its issues (the shadow report shows them, every
 * shadowed receipt says the candidate could not decide) and enforcement runs on.
 */
export async function compileCandidates(entries: readonly ShadowEntry[]): Promise<Map<string, ShadowCandidate>> {
  const candidates = new Map<string, ShadowCandidate>();
  for (const [index, entry] of entries.entries()) {
    const at = (path: readonly PropertyKey[]) => formatPath(["shadow", index, "candidate", ...path]);
    let compiled: CompiledWorkflow | null = null;
    let issues: ShadowCandidate["issues"] = [];
    try {
      compiled = await compileWorkflow(entry.candidate);
    } catch (error) {
      issues =
        error instanceof WorkflowCompileError
          ? error.issues.map((issue) => ({ path: at(issue.path), message: issue.message }))
          : [{ path: at([]), message: error instanceof Error ? error.message : String(error) }];
    }
    // Promotion makes the candidate the workflow's version: it must be a version of that workflow.
    if (compiled && compiled.id !== entry.workflow) {
      issues = [{ path: at(["id"]), message: `the candidate is workflow ${compiled.id}, not ${entry.workflow}` }];
      compiled = null;
    }
    if (issues.length > 0) console.warn(`shadow candidate for ${entry.workflow} does not compile; it decides nothing`, JSON.stringify(issues));
    candidates.set(entry.workflow, { workflow: entry.workflow, compiled, issues });
  }
  return candidates;
}
