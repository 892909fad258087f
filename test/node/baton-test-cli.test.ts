import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

// `baton test` (src/cli/test.mjs) as a workflow author runs it: over the examples directory
// (npm test runs every bundled workflow's tests this way), over a file whose expectation is
// wrong (it must fail, saying where and why), and over one that does not validate.
const ROOT = join(import.meta.dirname, "..", "..");
const EXAMPLES = join(ROOT, "examples", "workflows");
const work = mkdtempSync(join(tmpdir(), "baton-test-cli-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function baton(...args: string[]) {
  const result = spawnSync(process.execPath, [join(ROOT, "src", "cli", "baton.mjs"), "test", ...args], { cwd: work, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A directory with the deployment workflow and the given test file beside it. */
function project(name: string, tests: unknown): string {
  const dir = mkdtempSync(join(work, `${name}-`));
  copyFileSync(join(EXAMPLES, "deployment.json"), join(dir, "deployment.json"));
  writeFileSync(join(dir, "deployment.test.json"), JSON.stringify(tests));
  return dir;
}

const CANARY = { service: "checkout", version: "2.4.1", percent: 10 };

describe("baton test", () => {
  it("runs every bundled workflow's tests, one line per step, and they all pass", () => {
    const { code, stdout, stderr } = baton(EXAMPLES);
    expect(code, stdout + stderr).toBe(0);
    for (const id of ["deployment", "data-migration", "code-review", "reimbursement", "incident-response", "report-publication"]) {
      expect(stdout).toContain(`${join(EXAMPLES, `${id}.test.json`)}  (workflow ${id}, version `);
    }
    expect(stdout).toMatch(/^ {4}ok {4} 1 canary {7}\+10s {5}redeem deploy\.canary +ALLOW$/m);
    expect(stdout).not.toMatch(/^ {4}(FAIL|skip) /m);
    expect(stdout).toMatch(/^\d+ tests, (\d+) steps: \1 ok, 0 failed, 0 skipped — all passed$/m);
  });

  it("a wrong expectation fails: the step, expected against actual, the condition that decided; exit 1", () => {
    const dir = project("wrong", {
      start: { params: { service: "checkout", version: "2.4.1" } },
      tests: [
        {
          name: "a canary of 10% is refused (it is not)",
          steps: [
            { name: "canary", at: "+10s", redeem: { action: "deploy.canary", args: CANARY }, expect: { decision: "DENY", code: "CONDITION_FAILED" } },
            { replay: "canary", expect: { decision: "DENY", code: "REPLAY_NONCE" } },
          ],
        },
        { name: "a canary of 50% is allowed (it is not)", steps: [{ redeem: { action: "deploy.canary", args: { ...CANARY, percent: 50 } }, expect: { decision: "ALLOW" } }] },
      ],
    });
    const { code, stdout } = baton(dir);
    expect(code, stdout).toBe(1);
    const where = "args.service == params.service && args.version == params.version && args.percent <= 10";
    expect(stdout).toMatch(/^ {4}FAIL {2} 1 canary {7}\+10s {5}redeem deploy\.canary +ALLOW$/m);
    expect(stdout).toContain("            expected   DENY CONDITION_FAILED\n            actual     ALLOW (stage canary)\n");
    expect(stdout).toContain(`            decided by grant 0 of stage canary (deployer: deploy.canary): ${where}\n`);
    expect(stdout).toMatch(/^ {4}skip {2} 2 .* replay of step 1 \(redeem deploy\.canary\)$/m);
    expect(stdout, "no line ends in padding").not.toMatch(/ $/m);
    expect(stdout).toContain(`            expected   ALLOW\n            actual     DENY CONDITION_FAILED (stage canary)\n            decided by ${where}\n`);
    expect(stdout).toMatch(/^2 tests, 3 steps: 0 ok, 2 failed, 1 skipped — 2 failed$/m);

    const json = JSON.parse(baton(dir, "--json").stdout);
    expect(json).toMatchObject({ ok: false, tests: 2, failed: 2, steps: { ok: 0, failed: 2, skipped: 1 } });
    expect(json.files[0].tests[1].steps[0]).toMatchObject({
      step: 1,
      status: "fail",
      expected: { decision: "ALLOW" },
      actual: { decision: "DENY", code: "CONDITION_FAILED", decided_by: where },
      mismatched: ["decision"],
    });
  });

  it("a file that does not validate is reported with every issue's path; exit 2", () => {
    const dir = project("invalid", {
      start: { params: { service: "checkout", version: "2.4.1" } },
      tests: [{ name: "t", steps: [{ at: "soon", redeem: { args: {} }, expect: { decision: "MAYBE" } }] }],
    });
    const { code, stdout } = baton(join(dir, "deployment.test.json"));
    expect(code, stdout).toBe(2);
    expect(stdout).toMatch(/^INVALID .*deployment\.test\.json$/m);
    expect(stdout).toMatch(/^ {2}tests\[0\]\.steps\[0\]\.at: a time: /m);
    expect(stdout).toMatch(/^ {2}tests\[0\]\.steps\[0\]\.expect\.decision: /m);
    expect(stdout).toMatch(/^ {2}tests\[0\]\.steps\[0\]\.redeem\.action: /m);
  });

  it("usage: a directory without test files, a test file without its workflow", () => {
    expect(baton(join(ROOT, "examples", "whatif", "stricter")).code).toBe(2);
    const dir = mkdtempSync(join(work, "alone-"));
    writeFileSync(join(dir, "nothing.test.json"), JSON.stringify({ start: { params: {} }, tests: [{ name: "t", steps: [{ reissue: {}, expect: { decision: "ALLOW" } }] }] }));
    const { code, stdout } = baton(dir);
    expect(code).toBe(2);
    expect(stdout).toContain(`(file): no workflow nothing in ${dir}`);
  });
});
