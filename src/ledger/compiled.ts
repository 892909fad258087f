import { type CompiledWorkflow, compileWorkflow } from "../policy/compile.js";

/** Compiled workflow versions kept per isolate, most recently used last. Bounded: every delegation is a version of its own. */
const COMPILED_CACHE_SIZE = 128;
const compiledCache = new Map<string, Promise<CompiledWorkflow>>();

/** A sequence runs under the definition stored at its start; compiled once per isolate while in use, keyed by its hash. */
export function compiledWorkflow(hash: string, definition: string): Promise<CompiledWorkflow> {
  let found = compiledCache.get(hash);
  if (found) {
    compiledCache.delete(hash);
  } else {
    found = compileWorkflow(JSON.parse(definition)).then((compiled) => {
      if (compiled.hash !== hash) throw new Error("workflow definition does not match its hash");
      return compiled;
    });
    // A failed compilation is not kept: the next call reports it afresh.
    found.catch(() => compiledCache.get(hash) === found && compiledCache.delete(hash));
  }
  compiledCache.set(hash, found);
  if (compiledCache.size > COMPILED_CACHE_SIZE) compiledCache.delete(compiledCache.keys().next().value as string);
  return found;
}
