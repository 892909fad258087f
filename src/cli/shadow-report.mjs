// `baton shadow report`: the decisions a workflow's shadow candidate would flip, each with the
// condition that decided either side, read from a running Baton (GET /v1/workflows/:id/shadow,
// every page) or offline from an export or an evidence bundle. Every line printed comes from
// a signed receipt: the listing's receipts are verified (an operator's listing carries none,
// and is printed as the listing says, marked unverified).
import { parseArgs } from "node:util";
import { ChainChecker, shadowEntry, verifiedShadowEntry } from "baton/audit";
import { UsageError, isBundle, keysOf, lines, loadKeys, readJson, red, yellow } from "./cli-io.mjs";

export const SHADOW_USAGE = `usage:
  baton shadow report <workflow> [--url URL] [--api-key KEY] [--jwks <jwks.json>] [--flip decision|code|error] [--seq <id>] [--json]
  baton shadow report --from <receipts.txt | bundle.json> [--jwks <jwks.json>] [--json]
--url (BATON_URL, default http://localhost:8787) and --api-key (BATON_API_KEY): an auditor's key
(an operator's listing has no receipts to verify). Without --jwks the keys are Baton's own JWKS.`;

const FLIPS = ["decision", "code", "error"];

/** Exit codes: 0 the report, 1 a line or the chain does not verify or Baton refused, 2 usage or unreadable input. */
export async function shadowCommand(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        url: { type: "string", default: process.env.BATON_URL ?? "http://localhost:8787" },
        "api-key": { type: "string", default: process.env.BATON_API_KEY },
        jwks: { type: "string" },
        from: { type: "string" },
        flip: { type: "string" },
        seq: { type: "string" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    // An unknown or malformed option is bad usage (exit 2), said with the usage.
    throw new UsageError(`${error.message}\n${SHADOW_USAGE}`);
  }
  const { values, positionals } = parsed;
  const [sub, workflow] = positionals;
  if (values.help) {
    console.log(SHADOW_USAGE);
    return 0;
  }
  if (sub !== "report" || (!workflow && !values.from) || (workflow && values.from)) throw new UsageError(SHADOW_USAGE);
  if (values.flip && !FLIPS.includes(values.flip)) throw new UsageError(`--flip is one of ${FLIPS.join(", ")}`);
  const result = values.from ? await fromExport(values.from, values) : await fromBaton(workflow, values);
  if (result.refused) return 1;
  print(result, values.json);
  return result.failures.length > 0 ? 1 : 0;
}

async function fromBaton(workflow, values) {
  if (!values["api-key"]) throw new UsageError("an API key is needed: --api-key or BATON_API_KEY");
  const keys = values.jwks ? await loadKeys(values.jwks) : await keysOf(await get(values, "/.well-known/jwks.json"), `${values.url}/.well-known/jwks.json`);
  const query = new URLSearchParams({ limit: "100" });
  if (values.flip) query.set("flip", values.flip);
  if (values.seq) query.set("seq", values.seq);
  const entries = [];
  const failures = [];
  let head = null;
  let unverified = 0;
  let cursor = null;
  do {
    if (cursor) query.set("cursor", cursor);
    const page = await get(values, `/v1/workflows/${encodeURIComponent(workflow)}/shadow?${query}`);
    if (page.error) {
      console.error(`Baton refused: ${page.error.code}: ${page.error.message}`);
      return { refused: true };
    }
    head ??= page;
    for (const listed of page.decisions) {
      if (listed.receipt === undefined) {
        entries.push(listed);
        unverified++;
        continue;
      }
      const checked = await verifiedShadowEntry(listed, keys);
      if (checked.ok) entries.push(checked.entry);
      else failures.push(`${listed.seq} receipt ${listed.n}: ${checked.reason}`);
    }
    cursor = page.next;
  } while (cursor);
  return { source: `${values.url}`, workflow: head.workflow, version: head.version, candidate: head.candidate, promotion: head.promotion, entries, failures, unverified };
}

async function fromExport(path, values) {
  let receipts;
  let keys;
  if (isBundle(path)) {
    const bundle = readJson(path, "evidence bundle");
    if (!Array.isArray(bundle.receipts)) throw new UsageError(`${path} is not an evidence bundle: it has no receipts`);
    receipts = bundle.receipts;
    keys = values.jwks ? await loadKeys(values.jwks) : await keysOf(bundle.jwks, `${path} (jwks)`);
  } else {
    if (!values.jwks) throw new UsageError("an export needs --jwks: the report is read from verified receipts only");
    receipts = lines(path);
    keys = await loadKeys(values.jwks);
  }
  const checker = new ChainChecker(keys);
  const entries = [];
  let first = null;
  for await (const line of receipts) {
    const checked = await checker.push(line);
    if (!checked.ok) return { source: path, entries, failures: [`the chain does not verify: ${checked.reason}`], unverified: 0 };
    first ??= checked.receipt;
    const entry = shadowEntry(checked.receipt);
    if (entry && (!values.flip || entry.flip === values.flip)) entries.push(entry);
  }
  return { source: path, workflow: null, version: first?.workflow ?? null, candidate: null, promotion: null, entries, failures: [], unverified: 0 };
}

async function get(values, path) {
  let response;
  try {
    response = await fetch(new URL(path, values.url), { headers: { authorization: `Bearer ${values["api-key"]}` } });
  } catch (error) {
    throw new UsageError(`cannot reach ${values.url}: ${error.message}`);
  }
  try {
    return await response.json();
  } catch {
    throw new UsageError(`unexpected answer from ${values.url}${path} (${response.status})`);
  }
}

/** One side of a decision as a reader says it: `DENY CONDITION_FAILED (args.rows <= 20)`. */
function side(s) {
  return `${s.decision}${s.code ? ` ${s.code}` : ""}${s.condition ? ` (${s.condition})` : ""}`;
}

function print(result, json) {
  const { entries, failures } = result;
  if (json) {
    const { refused: _r, ...rest } = result;
    console.log(JSON.stringify(rest, null, 2));
    return;
  }
  const candidate = result.candidate ? (result.candidate.compiles ? `candidate ${result.candidate.hash}` : red("a candidate that does not compile")) : "no candidate configured now";
  if (result.workflow) console.log(`shadow report of ${result.workflow} (version ${result.version}): ${candidate}`);
  else console.log(`shadow report of ${result.source} (version ${result.version})`);
  for (const issue of result.candidate?.issues ?? []) console.log(`  ${red(issue.path)}: ${issue.message}`);
  if (result.promotion) console.log(`  promoted from ${result.promotion.from}; first sequence: ${result.promotion.first_sequence ?? "none yet"}`);
  console.log("");
  for (const e of entries) {
    const where = `${e.seq.slice(0, 12)}…  ${String(e.n).padStart(5)}  ${new Date(e.at).toISOString()}  ${e.kind.padEnd(9)}  ${e.stage.padEnd(12)}`;
    const after = e.shadow ? side(e.shadow) : `cannot decide: ${e.error}`;
    console.log(`${where}  ${side(e.enforced)}  →  ${yellow(after)}`);
  }
  for (const failure of failures) console.log(red(`NOT VERIFIED: ${failure}`));
  const flips = entries.filter((e) => e.flip !== "error").length;
  const errors = entries.length - flips;
  const verified = result.unverified > 0 ? ` (${result.unverified} unverified: the listing carried no receipts)` : "";
  console.log(`\n${flips} decision${flips === 1 ? "" : "s"} would flip, ${errors} the candidate could not decide${verified}.`);
}
