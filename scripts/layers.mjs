#!/usr/bin/env node
// Lists the imports between src/ folders and flags the ones that run against the layering
// the project keeps: tokens ← policy ← ledger ← api, with config beside them. A folder may
// import from the folders to its left (and from src/ itself), never from those to its right.
// Usage: node scripts/layers.mjs [--all]   (exit 1 when an import runs upward)
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "src");

/** What each folder may import, besides itself and the shared modules at src/'s top. */
export const ALLOWED = {
  tokens: [],
  policy: ["tokens"],
  config: ["tokens", "policy"],
  storage: [],
  analysis: ["tokens", "policy", "config", "storage"],
  ledger: ["tokens", "policy", "config", "storage", "analysis"],
  api: ["tokens", "policy", "config", "ledger", "analysis", "storage"],
  verifier: ["tokens", "policy"],
  audit: ["tokens", "policy"],
  // The client library types its inputs with the API's own request schemas (the wire contract).
  client: ["tokens", "api"],
  // The probe attester signs with the client's signer and posts with its client.
  probe: ["tokens", "client"],
  cli: ["tokens", "policy", "audit", "verifier", "client", "probe"],
};

/** Whether an import from folder `from` to folder `to` runs against the layering. */
export function isUpward(from, to) {
  if (from === "" || to === "" || from === to) return false;
  return !(ALLOWED[from] ?? []).includes(to);
}

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else if (/\.(ts|mts|mjs|js)$/.test(name) && !name.endsWith(".d.ts")) yield path;
  }
}

const folderOf = (path) => {
  const [first, ...rest] = relative(root, path).split("/");
  return rest.length === 0 ? "" : first;
};

export function crossImports() {
  const found = [];
  for (const file of files(root)) {
    const from = folderOf(file);
    const source = readFileSync(file, "utf8");
    for (const match of source.matchAll(/(?:^|\n)\s*(?:import|export)[^"'`;]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g)) {
      const specifier = match[1] ?? match[2];
      if (!specifier.startsWith(".")) continue;
      const target = resolve(dirname(file), specifier);
      if (!target.startsWith(root)) continue;
      const to = folderOf(target);
      if (to === from || to === "") continue;
      found.push({ file: relative(root, file), from, to, specifier, upward: isUpward(from, to) });
    }
  }
  return found;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const all = process.argv.includes("--all");
  const found = crossImports();
  const upward = found.filter((i) => i.upward);
  for (const i of all ? found : upward) console.log(`${i.upward ? "UPWARD " : "       "}${i.from} -> ${i.to}  ${i.file}  (${i.specifier})`);
  console.log(`${found.length} cross-folder imports, ${upward.length} against the layering`);
  process.exit(upward.length > 0 ? 1 : 0);
}
