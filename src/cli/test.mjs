// `baton test <dir | file>…`: runs the workflow tests beside the workflows (`<id>.test.json`)
// offline, through the Worker's own decide() (the runner is the audit library's: src/audit/workflow-tests/).
import { basename, dirname } from "node:path";
import { WorkflowTestError, parseWorkflowTests, runWorkflowTests } from "baton/audit";
import { UsageError, filesOf, green, loadWorkflows, readJson, red, yellow } from "./cli-io.mjs";

const TEST_FILE_SUFFIX = ".test.json";

/** Exit 0 when every step passes, 1 when one fails, 2 on usage or a test file that does not validate. */
export async function test(paths, values) {
  if (paths.length === 0) throw new UsageError("test needs a directory of workflows and their *.test.json files (or test files)");
  const files = paths.flatMap(testFiles);
  const workflowsOf = directoryWorkflows();
  const reports = [];
  for (const file of files) {
    const report = await runFile(file, workflowsOf);
    reports.push(report);
    if (!values.json) print(report);
  }
  const steps = reports.flatMap((r) => r.result?.tests.flatMap((t) => t.steps) ?? []);
  const count = (status) => steps.filter((s) => s.status === status).length;
  const invalid = reports.filter((r) => r.issues).length;
  const failed = reports.flatMap((r) => r.result?.tests ?? []).filter((t) => t.status === "fail").length;
  const tests = reports.reduce((n, r) => n + (r.result?.tests.length ?? 0), 0);
  if (values.json) {
    const files = reports.map(({ file, result, issues }) => (issues ? { file, ok: false, issues } : { file, ...result }));
    console.log(JSON.stringify({ ok: failed === 0 && invalid === 0, tests, failed, steps: { ok: count("ok"), failed: count("fail"), skipped: count("skip") }, files }, null, 2));
  } else {
    const problems = [failed && `${failed} failed`, invalid && `${invalid} invalid file${invalid > 1 ? "s" : ""}`].filter(Boolean);
    const verdict = problems.length === 0 ? green("all passed") : red(problems.join(", "));
    console.log(`\n${tests} tests, ${steps.length} steps: ${count("ok")} ok, ${count("fail")} failed, ${count("skip")} skipped — ${verdict}`);
  }
  return invalid > 0 ? 2 : failed > 0 ? 1 : 0;
}

/** A directory's test files, sorted; a file as given. */
function testFiles(path) {
  const found = filesOf(path, (f) => f.endsWith(TEST_FILE_SUFFIX));
  if (found.length === 0) throw new UsageError(`${path} holds no *${TEST_FILE_SUFFIX} files`);
  return found;
}

/** The workflows beside each test file, by id, read once per directory. */
function directoryWorkflows() {
  const byDir = new Map();
  return async (dir) => {
    if (!byDir.has(dir)) {
      const byId = new Map();
      for (const workflow of (await loadWorkflows(dir)).values()) byId.set(workflow.id, [...(byId.get(workflow.id) ?? []), workflow]);
      byDir.set(dir, byId);
    }
    return byDir.get(dir);
  };
}

async function runFile(file, workflowsOf) {
  let tests;
  try {
    tests = parseWorkflowTests(readJson(file, "test file"));
  } catch (error) {
    if (error instanceof WorkflowTestError) return { file, issues: error.issues.map(issueOf) };
    // Unreadable or not JSON: this file is invalid, the others still run.
    if (error instanceof UsageError) return { file, issues: [{ path: "", message: error.message }] };
    throw error;
  }
  const dir = dirname(file);
  const id = tests.workflow ?? basename(file).slice(0, -TEST_FILE_SUFFIX.length);
  const versions = (await workflowsOf(dir)).get(id) ?? [];
  if (versions.length !== 1) {
    const why = versions.length === 0 ? `no workflow ${id} in ${dir}` : `${dir} holds ${versions.length} versions of workflow ${id}`;
    return { file, issues: [{ path: tests.workflow ? "workflow" : "", message: why }] };
  }
  try {
    return { file, result: await runWorkflowTests(tests, versions[0]) };
  } catch (error) {
    if (error instanceof WorkflowTestError) return { file, issues: error.issues.map(issueOf) };
    throw error;
  }
}

/** An issue with its path written as configuration errors are: `tests[0].steps[2].redeem.action`. */
function issueOf(issue) {
  const path = issue.path.reduce((out, part) => (typeof part === "number" ? `${out}[${part}]` : out ? `${out}.${part}` : String(part)), "");
  return { path, message: issue.message };
}

function print({ file, result, issues }) {
  if (issues) {
    console.log(`${red("INVALID")} ${file}`);
    for (const { path, message } of issues) console.log(`  ${path || "(file)"}: ${message}`);
    return;
  }
  console.log(`${file}  (workflow ${result.workflow.id}, version ${result.workflow.hash})`);
  for (const t of result.tests) {
    console.log(`  ${t.status === "ok" ? t.name : red(t.name)}`);
    if (t.error) console.log(`    ${red("FAIL")}  ${t.error}`);
    const start = Date.parse(t.started_at);
    for (const s of t.steps) {
      const mark = s.status === "ok" ? green("ok  ") : s.status === "fail" ? red("FAIL") : yellow("skip");
      const label = `${String(s.step).padStart(2)} ${(s.name ?? "").padEnd(12)} ${offset(Date.parse(s.at) - start).padEnd(8)} ${s.what}`;
      // A skipped step has no outcome: no padding after its label either.
      console.log(`    ${mark}  ${s.actual ? `${label.padEnd(72)} ${outcome(s.actual)}` : label}`);
      if (s.status === "fail") failure(s);
    }
  }
}

/** Under a failing step: what was expected, what came, and what decided it. */
function failure(step) {
  const pad = "            ";
  if (step.error) {
    console.log(`${pad}cannot run: ${step.error}`);
    return;
  }
  const { expected, actual } = step;
  const want = [expected.decision, expected.code, expected.stage && `stage ${expected.stage}`, expected.sealed !== undefined && (expected.sealed ? "sealed" : "not sealed")];
  console.log(`${pad}expected   ${want.filter(Boolean).join(" ")}`);
  console.log(`${pad}actual     ${actual.decision}${actual.code ? ` ${actual.code}` : ""} (stage ${actual.stage}${actual.sealed ? ", sealed" : ""})`);
  if (actual.decided_by) console.log(`${pad}decided by ${actual.decided_by}`);
  console.log(`${pad}message    ${actual.message}`);
}

function outcome(actual) {
  return `${actual.decision}${actual.code ? ` ${actual.code}` : ""}`;
}

/** Milliseconds since the test's start, as the file writes offsets: +0s, +5m10s, +1h. */
function offset(ms) {
  let rest = Math.round(ms / 1000);
  const parts = [];
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]]) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return `+${parts.join("") || "0s"}`;
}
