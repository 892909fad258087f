#!/usr/bin/env node
// Builds the packages tool servers, clients and auditors install — packages/<name>/dist —
// from the sources where they live (src/verifier, src/client, src/audit, src/cli), with the
// repository's TypeScript. Each package's tsconfig.json names its entry files; tsc compiles
// them and what they import, with declarations.
//
//   node packages/build.mjs [verifier|client|cli …]     (default: all three)
//
// Then it checks what the package needs against what its package.json declares: every bare
// import reachable from an export (JavaScript and declarations) must be a dependency or a
// peer dependency, every dependency must be imported, and each version must be the one the
// repository pins, so the packages are tested with exactly what they declare; and the main
// export must not reach an optional peer (hono, the MCP SDK belong to their subpaths).
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");
const tsc = createRequire(join(root, "package.json")).resolve("typescript/bin/tsc");
const rootManifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const pinned = { ...rootManifest.dependencies, ...rootManifest.devDependencies };

/** Steps after tsc, per package. */
const post = {
  client(dist) {
    // The client's input types are the server's zod schemas, declared with @hono/zod-openapi's
    // `z` (zod plus `.openapi()`); their declarations are plain zod types, so the package
    // needs zod, not the service's OpenAPI layer.
    for (const file of walk(dist).filter((f) => f.endsWith(".d.ts"))) {
      const text = readFileSync(file, "utf8");
      if (text.includes('"@hono/zod-openapi"')) writeFileSync(file, text.replaceAll('"@hono/zod-openapi"', '"zod"'));
    }
  },
  cli(dist) {
    // The CLI's scripts are plain JavaScript over the audit, authoring and probe libraries; in the
    // repository they import them as `baton/audit`, `baton/authoring` and `baton/probe` (the
    // service package's own exports), here from beside them.
    mkdirSync(join(dist, "cli"), { recursive: true });
    for (const name of readdirSync(join(root, "src/cli")).filter((n) => n.endsWith(".mjs"))) {
      const text = readFileSync(join(root, "src/cli", name), "utf8")
        .replace(/from "baton\/(audit|probe)"/g, 'from "../$1/index.js"')
        .replaceAll('from "baton/authoring"', 'from "../config/authoring.js"');
      writeFileSync(join(dist, "cli", name), text, { mode: 0o755 });
    }
  },
};

const names = process.argv.slice(2).length ? process.argv.slice(2) : ["verifier", "client", "cli"];
for (const name of names) {
  const dir = join(here, name);
  if (!existsSync(join(dir, "package.json"))) throw new Error(`no package ${name} (packages/${name}/package.json)`);
  const started = Date.now();
  const dist = join(dir, "dist");
  rmSync(dist, { recursive: true, force: true });
  // Progress and tsc's diagnostics on stderr: `npm pack --json` (prepack) owns stdout.
  execFileSync(process.execPath, [tsc, "-p", join(dir, "tsconfig.json")], { stdio: ["ignore", process.stderr, process.stderr] });
  post[name]?.(dist);
  const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  pruneAndCheck(dir, manifest);
  console.error(`built ${manifest.name}@${manifest.version} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/**
 * Keeps only the JavaScript reachable from the package's exports and bin (tsc also emits
 * modules imported for their types alone), then checks the bare imports against the manifest.
 */
function pruneAndCheck(dir, manifest) {
  const entries = [
    ...Object.values(manifest.exports ?? {}).flatMap((e) => (typeof e === "string" ? [e] : [e.default, e.types])),
    ...Object.values(manifest.bin ?? {}),
  ]
    .filter((e) => e && !e.endsWith("package.json"))
    .map((e) => join(dir, e));
  const { reached, bare } = reach(dir, manifest, entries);
  for (const file of walk(join(dir, "dist"))) {
    if (/\.m?js$/.test(file) && !reached.has(file)) unlinkSync(file);
  }
  const declared = { ...manifest.dependencies, ...manifest.peerDependencies };
  const problems = [];
  for (const [pkg, from] of bare) if (!(pkg in declared)) problems.push(`${from} imports ${pkg}, which package.json does not declare`);
  for (const pkg of Object.keys(declared)) if (!bare.has(pkg)) problems.push(`declares ${pkg}, which nothing reachable imports`);
  for (const [pkg, version] of Object.entries(manifest.dependencies ?? {})) {
    if (pinned[pkg] !== version) problems.push(`depends on ${pkg}@${version}; the repository pins ${pinned[pkg] ?? "nothing"}`);
  }
  for (const [pkg, range] of Object.entries(manifest.peerDependencies ?? {})) {
    if (range !== `^${pinned[pkg]}`) problems.push(`peer ${pkg}@${range}; the repository tests ${pinned[pkg] ?? "nothing"} (expected ^${pinned[pkg]})`);
  }
  // An optional peer belongs to its subpath: the main export (code and declarations) must not reach it.
  const main = manifest.exports?.["."];
  if (main) {
    const fromMain = reach(dir, manifest, [join(dir, main.default), join(dir, main.types)]).bare;
    for (const pkg of Object.keys(manifest.peerDependencies ?? {})) if (fromMain.has(pkg)) problems.push(`the main export reaches the optional peer ${pkg} (${fromMain.get(pkg)})`);
  }
  if (problems.length) throw new Error(`${manifest.name}:\n  ${problems.join("\n  ")}`);
}

/** The files reachable from entries through relative imports, and the bare packages they import. */
function reach(dir, manifest, entries) {
  const reached = new Set();
  const bare = new Map(); // package → first file importing it
  const queue = [...entries];
  while (queue.length) {
    const file = queue.pop();
    if (reached.has(file)) continue;
    if (!existsSync(file)) throw new Error(`${manifest.name}: ${relative(dir, file)} is missing (named by exports/bin or imported)`);
    reached.add(file);
    const types = file.endsWith(".d.ts");
    for (const specifier of importsOf(readFileSync(file, "utf8"))) {
      if (specifier.startsWith(".")) {
        const target = resolve(dirname(file), specifier);
        queue.push(types ? target.replace(/\.js$/, ".d.ts") : target);
      } else if (!specifier.startsWith("node:")) {
        const pkg = specifier.startsWith("@") ? specifier.split("/").slice(0, 2).join("/") : specifier.split("/")[0];
        if (!bare.has(pkg)) bare.set(pkg, relative(dir, file));
      }
    }
  }
  return { reached, bare };
}

/** Import and export specifiers of a module (static, dynamic with a literal, and `import("…")` types). */
function importsOf(text) {
  const found = new Set();
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  for (const m of code.matchAll(/(?:^|[\s;}])(?:import|export)\s[^'"]*?\sfrom\s*["']([^"']+)["']/g)) found.add(m[1]);
  for (const m of code.matchAll(/(?:^|[\s;])import\s*["']([^"']+)["']/g)) found.add(m[1]);
  for (const m of code.matchAll(/import\(\s*["']([^"']+)["']\s*\)/g)) found.add(m[1]);
  return [...found];
}

function walk(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

