import { spawn } from "node:child_process";
import { join } from "node:path";

const BATON = join(import.meta.dirname, "..", "..", "src", "cli", "baton.mjs");

export interface CliRun {
  /** What it wrote to stderr so far (a long-running command's progress). */
  stderr(): string;
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** `baton <args>` as a child process, so a test can act while it runs (the probe's --watch). */
export function runBaton(args: string[], env: Record<string, string> = {}): CliRun {
  const child = spawn(process.execPath, [BATON, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1", ...env } });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  return {
    stderr: () => stderr,
    done: new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr }))),
  };
}

/** Waits until `condition` holds, polling; throws with `what` after `timeoutMs`. */
export async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
