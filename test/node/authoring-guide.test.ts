import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

// docs/authoring-workflows.md shows its offline commands in ```console blocks: `$ command`
// lines, each followed by what it prints (stdout and stderr, as a terminal shows them). This
// runs them in order from the repository root, in a directory of its own in place of the
// guide's /tmp/baton-guide, and holds the guide to what they print. The ```text blocks are
// a live Baton's (ids and times vary; they are cut with …); the version hashes they show
// must still be the ones the commands print, so editing a workflow without rerunning the
// guide fails here too.
const ROOT = join(import.meta.dirname, "..", "..");
const GUIDE = readFileSync(join(ROOT, "docs", "authoring-workflows.md"), "utf8");
const SCRATCH = "/tmp/baton-guide";
const dir = mkdtempSync(join(tmpdir(), "baton-guide-"));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function blocks(info: string): string[] {
  return [...GUIDE.matchAll(new RegExp(`^\`\`\`${info}\\n([\\s\\S]*?)^\`\`\`$`, "gm"))].map((m) => m[1] as string);
}

/** A console block's commands, each with the lines shown under it. */
function session(block: string): { command: string; shown: string }[] {
  const steps: { command: string; shown: string }[] = [];
  for (const line of block.split("\n").slice(0, -1)) {
    if (line.startsWith("$ ")) steps.push({ command: line.slice(2), shown: "" });
    else {
      const last = steps.at(-1);
      if (!last) throw new Error(`console block starts with output: ${line}`);
      last.shown += `${line}\n`;
    }
  }
  return steps;
}

function run(command: string): string {
  // stderr joins stdout as a terminal would show it; a command's own `> file` still holds only stdout.
  const result = spawnSync("bash", ["-c", `exec 2>&1\n${command.replaceAll(SCRATCH, dir)}`], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, NO_COLOR: "1" },
  });
  return result.stdout.replaceAll(dir, SCRATCH);
}

const HASH = /(?<![\w-])[\w-]{43}(?![\w-])/g;

describe("the authoring guide", () => {
  const consoles = blocks("console");
  const printed: string[] = [];

  it("has its offline commands in console blocks, none of them cut", () => {
    expect(consoles.length).toBeGreaterThanOrEqual(7);
    for (const block of consoles) expect(block).not.toContain("…");
  });

  it("prints what it shows, command by command", { timeout: 180_000 }, () => {
    // Every command runs before any comparison, so the next test has all they printed.
    const steps = consoles.flatMap(session);
    for (const { command } of steps) printed.push(run(command));
    expect(steps.map(({ command }, i) => `$ ${command}\n${printed[i]}`)).toEqual(steps.map(({ command, shown }) => `$ ${command}\n${shown}`));
  });

  it("shows, in the live sessions, only versions the commands print", () => {
    expect(printed.length, "the commands ran").toBeGreaterThan(0);
    const known = new Set(printed.join("\n").match(HASH));
    const shown = new Set(blocks("text").join("\n").match(HASH));
    expect(shown.size).toBeGreaterThanOrEqual(2);
    for (const hash of shown) expect(known, `${hash} is no version the guide's files have`).toContain(hash);
  });
});
