// What the auditor's commands share: usage errors, colours, and reading their inputs
// (a JWKS, a workflows directory, an export one line at a time).
import { closeSync, createReadStream, openSync, readFileSync, readSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { importJWK } from "jose";
import { compileWorkflow } from "baton/audit";

/** Bad usage or unreadable input: exit 2 with the message alone. */
export class UsageError extends Error {}

export const color = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code, text) => (color ? `\x1b[${code}m${text}\x1b[0m` : text);
export const green = (t) => paint(32, t);
export const red = (t) => paint(31, t);
export const yellow = (t) => paint(33, t);

export function readText(path, what) {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new UsageError(`cannot read ${what} ${path}: ${error.message}`);
  }
}

/** The public keys of a JWKS file, as the key lookup verifyJws and ChainChecker take. */
export async function loadKeys(path) {
  return keysOf(readJson(path, "JWKS"), path);
}

/** The public keys of a JWKS object (`where` names it in errors); private members are never used. */
export async function keysOf(jwks, where) {
  const keys = new Map();
  for (const jwk of jwks?.keys ?? []) {
    if (typeof jwk.kid !== "string" || jwk.d !== undefined) continue;
    const alg = jwk.alg ?? (jwk.crv === "Ed25519" ? "EdDSA" : "ES256");
    try {
      keys.set(jwk.kid, { key: await importJWK({ ...jwk, alg }, alg), alg });
    } catch {
      // A key we cannot use verifies nothing.
    }
  }
  if (keys.size === 0) throw new UsageError(`${where} holds no usable public keys`);
  return (kid) => keys.get(kid);
}

export function readJson(path, what) {
  const text = readText(path, what);
  try {
    return JSON.parse(text);
  } catch {
    throw new UsageError(`${path} is not JSON`);
  }
}

/** Whether a file is an evidence bundle (a JSON object) rather than an export (one JWS per line). */
export function isBundle(path) {
  try {
    const fd = openSync(path, "r");
    const head = Buffer.alloc(64);
    const read = readSync(fd, head, 0, 64, 0);
    closeSync(fd);
    return head.subarray(0, read).toString("utf8").trimStart().startsWith("{");
  } catch (error) {
    throw new UsageError(`cannot read export ${path}: ${error.message}`);
  }
}

/** A workflow file beside its tests: *.json, but not the *.test.json beside it (baton test's). */
export const isWorkflowFile = (f) => f.endsWith(".json") && !f.endsWith(".test.json");

/** A file as given, or the files of a directory that `wanted` keeps, sorted. */
export function filesOf(path, wanted) {
  let stat;
  try {
    stat = statSync(path);
  } catch (error) {
    throw new UsageError(`cannot read ${path}: ${error.message}`);
  }
  if (!stat.isDirectory()) return [path];
  return readdirSync(path)
    .filter(wanted)
    .sort()
    .map((f) => join(path, f));
}

/** The workflows of a directory (isWorkflowFile), compiled, by version hash. */
export async function loadWorkflows(dir) {
  const byHash = new Map();
  let files;
  try {
    files = readdirSync(dir).filter(isWorkflowFile);
  } catch (error) {
    throw new UsageError(`cannot read workflows directory ${dir}: ${error.message}`);
  }
  for (const file of files) {
    try {
      const compiled = await compileWorkflow(JSON.parse(readText(join(dir, file), "workflow")));
      byHash.set(compiled.hash, compiled);
    } catch (error) {
      throw new UsageError(`${join(dir, file)}: ${error.message}`);
    }
  }
  return byHash;
}

/** The export's lines, one at a time: bounded memory whatever its length. */
export async function* lines(path) {
  let stream;
  try {
    statSync(path);
    stream = createReadStream(path, { encoding: "utf8" });
  } catch (error) {
    throw new UsageError(`cannot read export ${path}: ${error.message}`);
  }
  for await (const line of createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY })) {
    if (line.trim() !== "") yield line;
  }
}
