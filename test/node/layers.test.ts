import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { ALLOWED, crossImports, isUpward } from "../../scripts/layers.mjs";

// The layering the code keeps (tokens ← policy ← ledger ← api, config beside them),
// checked on every run so an upward import fails the build instead of a review.
const SRC = join(import.meta.dirname, "..", "..", "src");

describe("src/ layering", () => {
  it("no import runs against the layering", () => {
    const upward = crossImports().filter((i) => i.upward).map((i) => `${i.file} imports ${i.specifier}`);
    expect(upward).toEqual([]);
  });

  it("tokens and policy import nothing from ledger, api or config", () => {
    for (const low of ["tokens", "policy"]) {
      for (const high of ["ledger", "api", "config", "analysis"]) expect(ALLOWED[low]).not.toContain(high);
    }
  });

  it("the checker flags an upward edge and passes a downward one (it can fail)", () => {
    expect(isUpward("tokens", "policy")).toBe(true);
    expect(isUpward("policy", "ledger")).toBe(true);
    expect(isUpward("ledger", "api")).toBe(true);
    expect(isUpward("api", "ledger")).toBe(false);
    expect(isUpward("policy", "tokens")).toBe(false);
    // and it really reads the tree: api's imports of tokens are seen
    expect(crossImports().some((i) => i.from === "api" && i.to === "tokens" && !i.upward)).toBe(true);
  });

  it("no file under src/ is over 300 lines without a stated reason", () => {
    const long: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path);
        else if (/\.(ts|mts|mjs)$/.test(name) && !name.endsWith(".d.ts")) {
          const text = readFileSync(path, "utf8");
          // A file may say why it is long in a comment: "Longer than 300 lines because …".
          const lines = text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
          if (lines > 300 && !/Longer than 300 lines because/.test(text)) long.push(relative(SRC, path));
        }
      }
    };
    walk(SRC);
    expect(long).toEqual([]);
  });
});
