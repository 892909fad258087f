import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import type {} from "../verifier/baton-under-test.js";

// The README's delegation walkthrough is examples/walkthrough-delegation.sh: its commands
// are the script's from `BATON=` on, and the output shown under them is what the script
// prints (it prints no ids or times). This runs the script against the suite's wrangler dev
// and holds both README blocks to it, so neither can drift from what Baton does.
const ROOT = join(import.meta.dirname, "..", "..");
const SCRIPT = join(ROOT, "examples", "walkthrough-delegation.sh");
const HEADING = "## Walkthrough: an agent delegates, and its sub-agents' shares die with the stage";

/** The section's fenced blocks of one info string (```sh, ```text), in order. */
function readmeBlocks(info: string): string[] {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const start = readme.indexOf(`\n${HEADING}\n`);
  expect(start, `README.md has no section "${HEADING}"`).toBeGreaterThan(0);
  const end = readme.indexOf("\n## ", start + HEADING.length + 2);
  const section = readme.slice(start, end === -1 ? undefined : end);
  return [...section.matchAll(new RegExp(`^\`\`\`${info}\\n([\\s\\S]*?)^\`\`\`$`, "gm"))].map((m) => m[1] as string);
}

describe("the README's delegation walkthrough", () => {
  it("shows the script's commands verbatim", () => {
    const script = readFileSync(SCRIPT, "utf8");
    const commands = script.slice(script.indexOf("\nBATON=") + 1);
    expect(readmeBlocks("sh")).toEqual([commands]);
  });

  it("runs against Baton, every step answered as the README shows", () => {
    const run = spawnSync("bash", [SCRIPT, inject("batonUrl")], { encoding: "utf8", timeout: 60_000 });
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    expect(readmeBlocks("text")).toEqual([run.stdout]);
  });
});
