/**
 * The HTTP fuzz alone, larger than in `npm test` (`npm run fuzz`):
 *   FUZZ_RUNS=20000 FUZZ_SCENARIOS=2000 FUZZ_SEED=7 npm run fuzz
 * The variables are read here, in Node, and handed to the test inside workerd with
 * `provide`/`inject` (process.env does not reach it), as test/model/vitest.config.ts does.
 */
import { fileURLToPath } from "node:url";
import { defineConfig, mergeConfig } from "vitest/config";
import base from "../../vitest.config.js";

const number = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);

const config = mergeConfig(
  base,
  defineConfig({
    root: fileURLToPath(new URL("../..", import.meta.url)),
    test: {
      provide: { fuzz: { runs: number("FUZZ_RUNS", 10_000), scenarios: number("FUZZ_SCENARIOS", 1000), seed: number("FUZZ_SEED", 15) } },
      testTimeout: 3_600_000,
    },
  }),
);
// mergeConfig concatenates arrays: replace the base's include rather than add to it.
if (config.test) config.test.include = ["test/fuzz/**/*.test.ts"];
export default config;
