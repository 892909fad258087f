import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

// The auditor's CLI (src/cli/baton.mjs) against the golden chains the Worker's
// tests also use (test/vectors/chains): exit codes, verdicts, the failing receipt.
const ROOT = join(import.meta.dirname, "..", "..");
const CHAINS = join(ROOT, "test", "vectors", "chains");
const expected = JSON.parse(readFileSync(join(CHAINS, "expected.json"), "utf8")) as Record<
  string,
  { valid: boolean; n?: number; reason?: string; jwks: string; head: boolean }
>;

function baton(...args: string[]) {
  const result = spawnSync(process.execPath, [join(ROOT, "src", "cli", "baton.mjs"), ...args], { cwd: CHAINS, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("baton audit verify", () => {
  for (const [file, expectation] of Object.entries(expected)) {
    it(`${file} → exit ${expectation.valid ? 0 : 1}`, () => {
      const head = expectation.head ? ["--head", "head.json"] : [];
      const human = baton("audit", "verify", file, "--jwks", expectation.jwks, "--workflows", join(ROOT, "examples", "workflows"), ...head);
      expect(human.code, human.stderr).toBe(expectation.valid ? 0 : 1);
      expect(human.stdout).toMatch(expectation.valid ? /^VALID: \d+ receipts/m : new RegExp(`^INVALID: .*${escapeRegExp(expectation.reason ?? "")}`, "m"));
      const json = baton("audit", "verify", file, "--jwks", expectation.jwks, "--workflows", join(ROOT, "examples", "workflows"), ...head, "--json");
      const verdict = JSON.parse(json.stdout);
      expect(verdict.valid).toBe(expectation.valid);
      if (!expectation.valid) expect(verdict.failure.n).toBe(expectation.n);
    });
  }

  it("prints a timeline with time, kind, stage, decision, code and actor", () => {
    const { stdout } = baton("audit", "verify", "valid.txt", "--jwks", "jwks.json", "--workflows", join(ROOT, "examples", "workflows"));
    expect(stdout).toMatch(/^\s+0\s+\d{4}-\d\d-\d\dT[\d:.]+Z\s+start\s+canary\s+ALLOW\s+orchestrator$/m);
    expect(stdout).toMatch(/^\s+1\s+\S+\s+redeem\s+canary\s+DENY\s+SEQUENCE_VIOLATION\s+tool:deployer$/m);
    // A tool's reported offline refusal replays like any other decision.
    expect(stdout).toMatch(/^\s+3\s+\S+\s+redeem\s+canary\s+DENY\s+CONDITION_FAILED\s+tool:deployer$/m);
  });

  it("usage errors and unreadable input exit 2", () => {
    expect(baton("audit", "verify", "valid.txt").code).toBe(2);
    expect(baton("audit", "verify", "missing.txt", "--jwks", "jwks.json", "--workflows", ".").code).toBe(2);
    expect(baton("audit", "verify", "valid.txt", "--jwks", "expected.json", "--workflows", join(ROOT, "examples", "workflows")).code).toBe(2);
    // A directory without the chain's workflow version cannot replay it.
    expect(baton("audit", "verify", "valid.txt", "--jwks", "jwks.json", "--workflows", join(ROOT, "test", "fixtures", "workflows")).code).toBe(2);
  });
});

describe("baton audit whatif", () => {
  it("lists the decisions another version would change, with the condition (the README's examples/whatif/stricter)", () => {
    const dir = join(ROOT, "examples", "whatif", "stricter");
    const { code, stdout } = baton("audit", "whatif", "valid.txt", "--workflows", dir, "--jwks", "jwks.json");
    expect(code).toBe(0);
    expect(stdout).toMatch(/ALLOW → DENY CONDITION_FAILED\s+\(args\.service == params\.service .* <= 2\)/);
    expect(stdout).toMatch(/\d+ of 8 decisions would change\./);
    const same = baton("audit", "whatif", "valid.txt", "--workflows", join(ROOT, "examples", "workflows"), "--workflow", "deployment", "--json");
    expect(JSON.parse(same.stdout)).toMatchObject({ decisions: 8, changed: 0 });
  });
});

describe("baton inspect", () => {
  it("names the kind, checks the signature against a JWKS, prints human times", () => {
    const receipt = readFileSync(join(CHAINS, "valid.txt"), "utf8").split("\n")[0] ?? "";
    const shown = baton("inspect", receipt, "--jwks", "jwks.json");
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^kind\s+receipt$/m);
    expect(shown.stdout).toMatch(/^signature\s+valid \(kid golden-test-1\)$/m);
    expect(shown.stdout).toMatch(/^at\s+\d+ \(\d{4}-\d\d-\d\dT/m);
    const forged = readFileSync(join(CHAINS, "resigned-unknown-key.txt"), "utf8").split("\n")[3] ?? "";
    expect(baton("inspect", forged, "--jwks", "jwks.json").code).toBe(1);
    expect(baton("inspect", "not-a-token").code).toBe(2);
  });

  it("keeps every value in one column, however long a claim's name", () => {
    const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
    const token = `${part({ alg: "EdDSA", typ: "baton-receipt+jwt" })}.${part({ n: 0, promoted_from: "LQAk", kind: "start" })}.`;
    const lines = baton("inspect", token).stdout.trim().split("\n");
    expect(lines).toContain("promoted_from LQAk");
    expect(new Set(lines.map((l) => l.search(/(?<= )[^ ]/))).size, lines.join("\n")).toBe(1);
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
