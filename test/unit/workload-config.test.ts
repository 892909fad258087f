import { describe, expect, it } from "vitest";
import { BUNDLED_EXAMPLE_CONFIG } from "../../src/config/bundled.js";
import { ConfigError, parseConfig } from "../../src/config/load.js";

// Attesters declared by OIDC issuer: what the configuration refuses, at which path.
const GITHUB = {
  id: "github-actions",
  issuer: "https://token.actions.githubusercontent.com",
  audience: "https://baton.example.com",
  claims: { repository_owner_id: "123456" },
};

function withAttester(attester: Record<string, unknown>, edit: (config: any) => void = () => {}): any {
  const config: any = structuredClone(BUNDLED_EXAMPLE_CONFIG);
  config.attesters = config.attesters.filter((a: { id: string }) => a.id !== "github-actions");
  config.attesters.push(attester);
  edit(config);
  return config;
}
const at = (config: any) => config.attesters.length - 1;

async function issuesOf(input: unknown, development = false): Promise<string[]> {
  try {
    await parseConfig(input, "binding", { development });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.issues.map((issue) => `${issue.path}: ${issue.message}`);
  }
  return [];
}

describe("an attester declared by issuer", () => {
  it("is accepted with its audience and claims, and RS256 and ES256 by default", async () => {
    const config = await parseConfig(withAttester(GITHUB));
    expect(config.workloadIssuers.get(GITHUB.issuer)).toEqual({
      attester: "github-actions",
      issuer: GITHUB.issuer,
      audience: GITHUB.audience,
      claims: GITHUB.claims,
      algorithms: ["RS256", "ES256"],
    });
    // The bundled example declares GitHub Actions for the release workflow.
    expect((await parseConfig(BUNDLED_EXAMPLE_CONFIG, "bundled-examples", { development: true })).workloadIssuers.has(GITHUB.issuer)).toBe(true);
  });

  it("needs audience and claims; is declared by keys or by issuer, not both; names at least one claim", async () => {
    const bare = withAttester({ id: "ci-oidc", issuer: GITHUB.issuer });
    expect(await issuesOf(bare)).toEqual([`attesters[${at(bare)}].audience: required with issuer`, `attesters[${at(bare)}].claims: required with issuer`]);
    const both = withAttester({ ...GITHUB, keys: structuredClone(BUNDLED_EXAMPLE_CONFIG.attesters[0]?.keys) }, (c) => {
      c.attesters[0].keys[0].kid = "other-kid";
    });
    expect(await issuesOf(both)).toEqual([`attesters[${at(both)}].issuer: an attester is declared by keys or by issuer, not both`]);
    const none = withAttester({ id: "nothing" });
    expect(await issuesOf(none)).toEqual([`attesters[${at(none)}].keys: an attester needs keys, or an issuer (with audience and claims)`]);
    const open = withAttester({ ...GITHUB, claims: {} });
    expect(await issuesOf(open)).toEqual([expect.stringMatching(new RegExp(`^attesters\\[${at(open)}\\]\\.claims: 1 to 16 claims`))]);
    const keyed = withAttester({ id: "keyed", keys: [], audience: "x" });
    expect(await issuesOf(keyed)).toEqual(expect.arrayContaining([`attesters[${at(keyed)}].audience: only with issuer`]));
  });

  it("never none or HS*; an issuer must be https (http only to localhost, and only in development)", async () => {
    for (const alg of ["none", "HS256"]) {
      const config = withAttester({ ...GITHUB, algorithms: [alg] });
      expect(await issuesOf(config)).toEqual([expect.stringMatching(new RegExp(`^attesters\\[${at(config)}\\]\\.algorithms\\[0\\]: `))]);
    }
    const plain = withAttester({ ...GITHUB, issuer: "http://token.actions.githubusercontent.com" });
    expect(await issuesOf(plain, true)).toEqual([`attesters[${at(plain)}].issuer: https, or http to localhost in development`]);
    const local = withAttester({ ...GITHUB, issuer: "http://127.0.0.1:9000" });
    expect(await issuesOf(local, true)).toEqual([]);
    expect(await issuesOf(local, false)).toEqual([`attesters[${at(local)}].issuer: https required outside development`]);
    const query = withAttester({ ...GITHUB, issuer: "https://issuer.example/?tenant=a" });
    expect(await issuesOf(query)).toEqual([expect.stringMatching(/issuer: no query, fragment or credentials/)]);
  });

  it("one attester per issuer, and a gate may take only workload_identity from it", async () => {
    const twice = withAttester(GITHUB, (c) => c.attesters.push({ ...GITHUB, id: "github-again" }));
    expect(await issuesOf(twice)).toEqual([`attesters[${twice.attesters.length - 1}].issuer: duplicate attester issuer`]);
    const mistyped = withAttester(GITHUB, (c) => {
      const release = c.workflows.find((w: { id: string }) => w.id === "release");
      release.stages[1].gate.attestations[0].type = "tests_passed";
    });
    const index = BUNDLED_EXAMPLE_CONFIG.workflows.findIndex((w) => w.id === "release");
    expect(await issuesOf(mistyped)).toEqual([
      `workflows[${index}].stages[1].gate.attestations[0].type: attester github-actions is declared by issuer: its tokens are of type workload_identity`,
    ]);
  });
});
