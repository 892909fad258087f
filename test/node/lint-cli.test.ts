import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

// `baton lint` (src/cli/lint.mjs over the built dist/config/authoring.js): exit codes,
// the --json shape, pointers into the files, and --config.
const ROOT = join(import.meta.dirname, "..", "..");
const EXAMPLES = join(ROOT, "examples", "workflows");
const dir = mkdtempSync(join(tmpdir(), "baton-lint-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function baton(...args: string[]) {
  const result = spawnSync(process.execPath, [join(ROOT, "src", "cli", "baton.mjs"), ...args], { cwd: ROOT, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}
const write = (name: string, value: unknown) => {
  const path = join(dir, name);
  writeFileSync(path, typeof value === "string" ? value : JSON.stringify(value, null, 2));
  return path;
};
const example = (name: string) => JSON.parse(readFileSync(join(EXAMPLES, `${name}.json`), "utf8"));
const stackTrace = /^\s+at .+:\d+:\d+\)?$/m;

/** The bundled example workflows (their tests beside them are not workflows). */
const bundled = readdirSync(EXAMPLES).filter((f) => f.endsWith(".json") && !f.endsWith(".test.json")).length;

describe("baton lint", () => {
  it("with no files lints the bundled examples: no errors, exit 0", () => {
    const { code, stdout } = baton("lint");
    expect(code).toBe(0);
    expect(stdout).toMatch(/deployment\.json \(deployment\): ok$/m);
    expect(stdout).toMatch(new RegExp(`^${bundled} workflows: 0 errors, 1 warning$`, "m"));
  });

  it("a directory: its workflows, not the baton test files beside them", () => {
    const { code, stdout } = baton("lint", EXAMPLES);
    expect(code).toBe(0);
    expect(stdout).not.toMatch(/\.test\.json/);
    expect(stdout).toMatch(/deployment\.json \(deployment\): ok$/m);
  });

  it("--json: files, their findings with severity, rule, pointer and message, and the totals", () => {
    const { code, stdout } = baton("lint", EXAMPLES, "--json");
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report).toMatchObject({ config: "bundled", errors: 0, warnings: 1 });
    expect(report.files).toHaveLength(bundled);
    const reimbursement = report.files.find((f: any) => f.workflow === "reimbursement");
    expect(reimbursement.file).toBe(join(EXAMPLES, "reimbursement.json"));
    expect(reimbursement.findings).toEqual([{ severity: "warning", rule: "sum-unconstrained", path: "/stages/1/grants/0/sum/arg", message: expect.any(String) }]);
  });

  it("an error exits 1 and points into the file; warnings alone exit 0", () => {
    const broken = example("incident-response");
    broken.stages[1].gate.approvals.count = 5;
    broken.stages[1].gate.attestations[0].where = "attestation.facts.service == params.servce";
    const path = write("broken.json", broken);
    const human = baton("lint", path);
    expect(human.code).toBe(1);
    expect(human.stdout).toMatch(/^ {2}error {4}\/stages\/1\/gate\/approvals\/count {2}approval-group-too-small: needs 5 approvers of group sre; the configuration has 3/m);
    expect(human.stdout).toMatch(/^1 workflow: 2 errors, 1 warning$/m);
    const { files, errors } = JSON.parse(baton("lint", path, "--json").stdout);
    expect(errors).toBe(2);
    expect(files[0].findings.map((f: any) => `${f.severity} ${f.rule} ${f.path}`)).toEqual([
      "warning unreachable-stage /stages/1",
      "error approval-group-too-small /stages/1/gate/approvals/count",
      "error cel-unknown-param /stages/1/gate/attestations/0/where",
    ]);
    const warned = baton("lint", join(EXAMPLES, "reimbursement.json"));
    expect(warned.code).toBe(0);
    expect(warned.stdout).toMatch(/warning {2}\/stages\/1\/grants\/0\/sum\/arg {2}sum-unconstrained/);
  });

  it("a file that is not JSON is a finding about that file; the others are still linted", () => {
    const path = write("not-json.json", "{ nope");
    const { code, stdout } = baton("lint", path, join(EXAMPLES, "deployment.json"), "--json");
    expect(code).toBe(1);
    const { files } = JSON.parse(stdout);
    expect(files.map((f: any) => f.findings.map((x: any) => `${x.rule} ${x.path}`))).toEqual([["json "], []]);
  });

  it("--config: the deployment's attesters, approver groups and detectors decide", () => {
    const dev = JSON.parse(readFileSync(join(ROOT, "examples", "dev-config.json"), "utf8"));
    // One SRE left: the incident response's two-person gate can never open.
    const config = { ...dev, approvers: dev.approvers.filter((a: any) => a.id !== "sam" && a.id !== "sasha"), workflows: [example("deployment"), example("incident-response")] };
    const path = write("config.json", config);
    const { code, stdout } = baton("lint", join(EXAMPLES, "incident-response.json"), "--config", path, "--json");
    expect(code).toBe(1);
    expect(JSON.parse(stdout).files[0].findings[1]).toMatchObject({ rule: "approval-group-too-small", path: "/stages/1/gate/approvals/count" });
    expect(baton("lint", join(EXAMPLES, "deployment.json"), "--config", path).code).toBe(0);
    // No files: the configuration's own workflows, with pointers into the configuration.
    const own = JSON.parse(baton("lint", "--config", path, "--json").stdout);
    expect(own.files.map((f: any) => [f.file, f.workflow])).toEqual([
      [path, "deployment"],
      [path, "incident-response"],
    ]);
    expect(own.files[1].findings.map((f: any) => f.path)).toContain("/workflows/1/stages/1/gate/approvals/count");
  });

  it("usage errors and unreadable input exit 2 with a message, no stack trace", () => {
    for (const args of [
      ["lint", join(dir, "missing.json")],
      ["lint", EXAMPLES, "--config", join(dir, "missing.json")],
      ["lint", EXAMPLES, "--config", write("bad-config.json", { issuer: "x" })],
      ["lint", "--bogus"],
    ]) {
      const result = baton(...args);
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stderr).not.toBe("");
      expect(result.stderr).not.toMatch(stackTrace);
    }
    expect(baton("lint", "--help").stdout).toMatch(/^usage: baton lint/);
  });
});
