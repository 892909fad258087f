/// <reference types="vite/client" />
import { describe, expect, it } from "vitest";
import { ChainChecker, replayChain } from "../src/audit/index.js";
import { compileWorkflow } from "../src/policy/compile.js";
import expected from "./vectors/chains/expected.json";
import head from "./vectors/chains/head.json";
import deployment from "../examples/workflows/deployment.json";

// The golden chains of test/vectors/chains (see generate.mjs): the same files the
// `baton audit` CLI is tested against (test/node/audit-cli.test.ts).
const files = import.meta.glob("./vectors/chains/*.txt", { query: "?raw", import: "default", eager: true }) as Record<string, string>;
const keysets = import.meta.glob("./vectors/chains/jwks*.json", { import: "default", eager: true }) as Record<string, { keys: (JsonWebKey & { kid: string })[] }>;

async function lookup(file: string) {
  const { importJWK } = await import("jose");
  const keys = new Map<string, { key: CryptoKey; alg: string }>();
  for (const jwk of keysets[`./vectors/chains/${file}`]?.keys ?? []) {
    keys.set(jwk.kid, { key: (await importJWK(jwk as never, "EdDSA")) as CryptoKey, alg: "EdDSA" });
  }
  return (kid: string) => keys.get(kid);
}

describe("golden receipt-chain vectors", () => {
  it("every vector file has an expectation, and every expectation a file", () => {
    expect(Object.keys(files).map((f) => f.replace("./vectors/chains/", "")).sort()).toEqual(Object.keys(expected).sort());
  });

  for (const [file, expectation] of Object.entries(expected)) {
    it(`${file}: ${expectation.valid ? "valid" : `invalid at receipt ${"n" in expectation ? expectation.n : "?"}`}`, async () => {
      const checker = new ChainChecker(await lookup(expectation.jwks));
      const receipts = [];
      let failure: { n: number; reason: string } | null = null;
      for (const line of (files[`./vectors/chains/${file}`] ?? "").trim().split("\n")) {
        const result = await checker.push(line);
        if (!result.ok) {
          failure = result;
          break;
        }
        receipts.push(result.receipt);
      }
      if (!failure && expectation.head) {
        const problem = await checker.checkHead(head.signed_head);
        if (problem) failure = { n: checker.length, reason: problem };
      }
      if (!failure) {
        const { divergences } = await replayChain(receipts, await compileWorkflow(deployment));
        const first = divergences[0];
        if (first) failure = { n: first.n, reason: `replay gives ${first.replayed.decision} ${first.replayed.code}` };
      }
      if (expectation.valid) {
        expect(failure).toBeNull();
        expect(checker.sealed).toBe(true);
        expect(await checker.checkHead(head.signed_head)).toBeNull();
      } else {
        expect(failure).toMatchObject({ n: (expectation as { n: number }).n, reason: expect.stringContaining((expectation as { reason: string }).reason) });
      }
    });
  }
});
