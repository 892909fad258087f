// `baton lint`: what a workflow cannot do under a configuration (src/config/lint/), per file,
// each finding with a JSON pointer into the file. Exit 1 on errors, 0 with warnings only.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { lintEnvironmentOf, lintWorkflow } from "baton/authoring";
import { UsageError, filesOf, isWorkflowFile, readJson, readText, red, yellow } from "./cli-io.mjs";

export const USAGE = `usage: baton lint [<workflow.json | dir>…] [--config <config.json>] [--json]
Lints each workflow against the configuration's attesters, approver groups and detectors:
--config is a Baton configuration (BATON_CONFIG); by default the bundled examples'.
With no files, lints the configuration's own workflows (paths then point into it).
Exit codes: 0 no errors (warnings allowed), 1 errors, 2 usage or unreadable input.`;

const EXAMPLES = fileURLToPath(new URL("../../examples/", import.meta.url));

export async function run(argv) {
  const { values, positionals } = parse(argv);
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const configName = values.config ?? "the bundled configuration";
  const config = values.config ? readJson(values.config, "configuration") : bundledConfig();
  const environment = lintEnvironmentOf(config);
  if (!environment.ok) {
    throw new UsageError(`${configName} is not a Baton configuration: ${environment.issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`);
  }
  // No files: the configuration's own workflows (for the bundled one, the example files themselves).
  const paths = positionals.length > 0 ? positionals : values.config ? [] : [join(EXAMPLES, "workflows")];
  const documents =
    paths.length > 0
      ? paths.flatMap(workflowFiles).map((file) => ({ file, base: "", ...readDocument(file) }))
      : environment.workflows.map((input, i) => ({ file: values.config, base: `/workflows/${i}`, input }));

  const files = documents.map(({ file, base, input, unreadable }) => ({
    file,
    workflow: typeof input?.id === "string" ? input.id : null,
    findings: unreadable
      ? [{ severity: "error", rule: "json", path: "", message: unreadable }]
      : lintWorkflow(input, environment.environment).map((f) => ({ ...f, path: base + f.path })),
  }));
  const count = (severity) => files.reduce((n, f) => n + f.findings.filter((x) => x.severity === severity).length, 0);
  const errors = count("error");
  const warnings = count("warning");

  if (values.json) {
    console.log(JSON.stringify({ config: values.config ?? "bundled", files, errors, warnings }, null, 2));
  } else {
    for (const { file, workflow, findings } of files) {
      console.log(`${file}${workflow ? ` (${workflow})` : ""}${findings.length === 0 ? ": ok" : ""}`);
      for (const f of findings) {
        const severity = f.severity === "error" ? red("error  ") : yellow("warning");
        console.log(`  ${severity}  ${f.path || "/"}  ${f.rule}: ${f.message}`);
      }
    }
    const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
    console.log(`\n${plural(files.length, "workflow")}: ${plural(errors, "error")}, ${plural(warnings, "warning")}`);
  }
  return errors > 0 ? 1 : 0;
}

function parse(argv) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      options: { config: { type: "string" }, json: { type: "boolean", default: false }, help: { type: "boolean", short: "h" } },
    });
  } catch (error) {
    throw new UsageError(`${error.message}\n${USAGE}`);
  }
}

/** The configuration development serves (src/config/bundled.ts): dev-config.json and the example workflows. */
function bundledConfig() {
  // The examples live in the repository, not in @baton-dev/cli: there, name the configuration.
  if (!existsSync(join(EXAMPLES, "dev-config.json"))) throw new UsageError(`no bundled configuration beside this baton: pass --config <config.json>\n${USAGE}`);
  const dev = readJson(join(EXAMPLES, "dev-config.json"), "bundled configuration");
  return { ...dev, workflows: workflowFiles(join(EXAMPLES, "workflows")).map((file) => readJson(file, "workflow")) };
}

/** A file, or the workflows of a directory (not the baton test files beside them). */
const workflowFiles = (path) => filesOf(path, isWorkflowFile);

/** A file that is not JSON is a finding about that file, not a reason to stop linting the others. */
function readDocument(file) {
  const text = readText(file, "workflow");
  try {
    return { input: JSON.parse(text) };
  } catch (error) {
    return { input: null, unreadable: `not JSON: ${error.message}` };
  }
}
