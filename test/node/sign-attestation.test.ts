import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { decodeProtectedHeader } from "jose";
import { describe, expect, it } from "vitest";

// examples/sign-attestation.mjs, as the walkthroughs run it: a usage line and a clear
// message for every mistake (exit 2), never a stack trace.
const SCRIPT = join(import.meta.dirname, "..", "..", "examples", "sign-attestation.mjs");
const sign = (...args: string[]) => {
  const result = spawnSync(process.execPath, [SCRIPT, ...args], { encoding: "utf8" });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
};
const base = ["--attester", "monitor", "--seq", "a".repeat(64), "--stage", "canary", "--type", "canary_passed"];
const stackTrace = /^\s+at .+:\d+:\d+\)?$/m;

describe("examples/sign-attestation.mjs", () => {
  it("--help prints the usage and exits 0", () => {
    const help = sign("--help");
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: node examples\/sign-attestation\.mjs --attester <id>/);
    expect(help.stdout).toMatch(/monitor/);
  });

  it.each([
    ["bad --facts", [...base, "--facts", "{bad"], /--facts is not JSON/],
    ["--facts not an object", [...base, "--facts", "[1]"], /--facts must be a JSON object/],
    ["an unknown attester", ["--attester", "nobody", ...base.slice(2)], /unknown attester "nobody": the example attesters are .*monitor/],
    ["a missing option", base.slice(0, -2), /missing --type/],
    ["an unknown option", [...base, "--bogus"], /Unknown option '--bogus'/],
    ["a bad --issued-at", [...base, "--issued-at", "yesterday"], /--issued-at must be whole seconds/],
  ])("%s: a message and the usage line, exit 2, no stack trace", (_, args, message) => {
    const result = sign(...args);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(message);
    expect(result.stderr).toMatch(/^usage: /m);
    expect(result.stderr).not.toMatch(stackTrace);
  });

  it("signs an attestation with the attester's example key", () => {
    const result = sign(...base, "--facts", '{"service":"checkout","version":"2.4.1","error_rate":0.002}');
    expect(result.code, result.stderr).toBe(0);
    expect(decodeProtectedHeader(result.stdout.trim())).toMatchObject({ typ: "baton-attestation+jwt", alg: "EdDSA" });
  });
});
