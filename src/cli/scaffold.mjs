// `baton scaffold --from-mcp`: a workflow skeleton with one grant per tool of an MCP server
// (listed with the SDK's own client over Streamable HTTP) or of a saved tools/list result.
// The workflow goes to stdout or --out; the suggested `where` conditions to stderr or, with
// --out, to a side file beside it (JSON has no comments, and the workflow schema is strict).
import { writeFileSync } from "node:fs";
import { basename, extname } from "node:path";
import { parseArgs } from "node:util";
import { ToolsListSchema, scaffoldWorkflow, toIdentifier } from "baton/authoring";
import { UsageError, readJson } from "./cli-io.mjs";

export const USAGE = `usage: baton scaffold --from-mcp <MCP server URL | tools-list.json> [--out <workflow.json>] [--audience <tool id>] [--id <workflow id>] [--header "Name: value"]…
Writes a workflow with one grant per tool, to arrange into stages; the grants' audience is
--audience, else the server's name (a file's: its base name). Suggested where conditions, from
each tool's inputSchema, go to stderr, or with --out to <workflow>.where.json beside it.
A file is a saved tools/list result (the result, or the whole JSON-RPC response).`;

const IDENTIFIER = /^[a-z0-9][a-z0-9._:-]{0,63}$/;
/** Pages of tools/list read at most: past the most grants a workflow can hold, the rest could not be used. */
const MAX_PAGES = 64;

export async function run(argv) {
  const { values } = parse(argv);
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const from = values["from-mcp"];
  if (!from) throw new UsageError(`scaffold needs --from-mcp <MCP server URL | tools-list.json>\n${USAGE}`);
  const requestHeaders = headers(values.header ?? []);
  const listed = /^https?:\/\//i.test(from) ? await listTools(from, requestHeaders) : fromFile(from);
  const parsed = ToolsListSchema.safeParse(listed.result);
  if (!parsed.success) {
    throw new UsageError(`${from} did not give a tools/list result: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ")}`);
  }
  const audience = values.audience ?? toIdentifier(listed.name ?? "");
  if (!audience || !IDENTIFIER.test(audience)) throw new UsageError(`no usable tool id${audience ? ` (${audience})` : ""}: name it with --audience <lowercase id>`);
  if (values.id !== undefined && !IDENTIFIER.test(values.id)) throw new UsageError(`--id ${values.id} is not a workflow id (lowercase letters, digits and . _ : -)`);

  let scaffold;
  try {
    scaffold = scaffoldWorkflow({ tools: parsed.data.tools, audience, id: values.id, source: from });
  } catch (error) {
    throw new UsageError(error.message);
  }
  const workflow = `${JSON.stringify(scaffold.workflow, null, 2)}\n`;
  const grants = scaffold.workflow.stages.reduce((n, s) => n + s.grants.length, 0);
  if (values.out) {
    const side = `${values.out.endsWith(".json") ? values.out.slice(0, -".json".length) : values.out}.where.json`;
    const notes = {
      "//": `Suggested where conditions for ${basename(values.out)}, from each tool's inputSchema (written by baton scaffold; Baton never reads this file). Copy a grant's where into the grant at its JSON pointer, and its params into the workflow's params.properties and required.`,
      grants: scaffold.suggestions.map((s) => ({ ...s, required: Object.keys(s.params) })),
      skipped: scaffold.skipped,
    };
    writeFileSync(values.out, workflow);
    writeFileSync(side, `${JSON.stringify(notes, null, 2)}\n`);
    console.log(`wrote ${values.out} (${grants} grants to ${audience}) and ${side} (${scaffold.suggestions.length} suggested conditions)`);
  } else {
    process.stdout.write(workflow);
    for (const s of scaffold.suggestions) {
      console.error(`// ${s.grant}  ${s.tool}\n//   where:  ${s.where}\n//   params: ${JSON.stringify(s.params)}`);
    }
  }
  for (const s of scaffold.skipped) console.error(`// skipped ${s.tool}: ${s.reason}`);
  return 0;
}

function parse(argv) {
  try {
    return parseArgs({
      args: argv,
      options: {
        "from-mcp": { type: "string" },
        out: { type: "string" },
        audience: { type: "string" },
        id: { type: "string" },
        header: { type: "string", multiple: true },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    throw new UsageError(`${error.message}\n${USAGE}`);
  }
}

function headers(lines) {
  return Object.fromEntries(
    lines.map((line) => {
      const colon = line.indexOf(":");
      if (colon < 1) throw new UsageError(`--header ${line}: expected "Name: value"`);
      return [line.slice(0, colon).trim(), line.slice(colon + 1).trim()];
    }),
  );
}

/** Every page of the server's tools/list, and the name it gives itself at initialization. */
async function listTools(url, requestHeaders) {
  // Loaded here: @baton-dev/cli has the SDK as an optional peer, needed for a live server only.
  let sdk;
  try {
    sdk = await Promise.all([import("@modelcontextprotocol/sdk/client/index.js"), import("@modelcontextprotocol/sdk/client/streamableHttp.js")]);
  } catch {
    throw new UsageError("listing a live MCP server needs the MCP SDK: npm install @modelcontextprotocol/sdk (or pass a saved tools/list result)");
  }
  const [{ Client }, { StreamableHTTPClientTransport }] = sdk;
  const client = new Client({ name: "baton-scaffold", version: "1.0.0" });
  try {
    await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: requestHeaders } }));
  } catch (error) {
    throw new UsageError(`cannot reach the MCP server at ${url}: ${error.message}`);
  }
  try {
    const tools = [];
    let cursor;
    for (let page = 0; page < MAX_PAGES; page++) {
      const result = await client.listTools(cursor === undefined ? undefined : { cursor });
      tools.push(...result.tools);
      cursor = result.nextCursor;
      if (cursor === undefined) break;
    }
    return { result: { tools }, name: client.getServerVersion()?.name };
  } catch (error) {
    throw new UsageError(`tools/list failed at ${url}: ${error.message}`);
  } finally {
    await client.close();
  }
}

function fromFile(path) {
  return { result: readJson(path, "tools/list result"), name: basename(path, extname(path)) };
}
