#!/usr/bin/env node
// The guide's Baton (docs/authoring-workflows.md): prints a wrangler env file whose BATON_CONFIG
// is the development configuration (examples/dev-config.json: attesters and clients whose keys
// are published, so development only) with one workflow, and either a candidate in shadow or
// the record of a promotion. An env file, because the JSON holds both kinds of quotes (CEL).
//   node docs/authoring/baton-env.mjs <workflow.json> [--shadow <candidate.json>] [--promoted-from <replaced workflow.json>]
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { compileWorkflow } from "baton/audit";

const { values, positionals } = parseArgs({ options: { shadow: { type: "string" }, "promoted-from": { type: "string" } }, allowPositionals: true });
if (positionals.length !== 1) {
  console.error("usage: node docs/authoring/baton-env.mjs <workflow.json> [--shadow <candidate.json>] [--promoted-from <replaced workflow.json>]");
  process.exit(2);
}
const read = (path) => JSON.parse(readFileSync(path, "utf8"));
const devConfig = read(new URL("../../examples/dev-config.json", import.meta.url));
const workflow = read(positionals[0]);
const config = { ...devConfig, workflows: [workflow] };
const hash = async (definition) => (await compileWorkflow(definition)).hash;
const said = [`${workflow.id} ${await hash(workflow)} enforced`];
if (values.shadow) {
  const candidate = read(values.shadow);
  config.shadow = [{ workflow: workflow.id, candidate }];
  said.push(`candidate ${await hash(candidate)} in shadow`);
}
if (values["promoted-from"]) {
  const from = await hash(read(values["promoted-from"]));
  config.promotions = [{ workflow: workflow.id, from }];
  said.push(`promoted from ${from}`);
}
// Backticks: the JSON holds single and double quotes, never a backtick.
console.log(`BATON_CONFIG=\`${JSON.stringify(config)}\``);
console.error(said.join("; "));
