import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { testConfig, testSigningKeys } from "./test/fixtures/test-config.mjs";

export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      // The tests replace the bundled configuration the way a deployment does, and sign
      // with a fixed test-only key set (BATON_SIGNING_KEYS) that the hostile-token tests
      // also hold, so a signed-but-malformed capability reaches the claims checks.
      miniflare: { bindings: { BATON_CONFIG: JSON.stringify(testConfig), BATON_SIGNING_KEYS: JSON.stringify(testSigningKeys) } },
    }),
  ],
  test: {
    // CI sets TEST_REPORT_DIR to collect a machine-readable report of each suite.
    reporters: process.env.TEST_REPORT_DIR ? ["default", ["json", { outputFile: `${process.env.TEST_REPORT_DIR}/workerd.json` }]] : ["default"],
    include: ["test/**/*.test.ts"],
    // Node-only suites (MCP guard, demo) run under vitest.node.config.ts; test/verifier runs in both.
    exclude: ["test/node/**", "node_modules/**"],
    // A flaky nonce test is a bug, not bad luck.
    retry: 0,
    // The first request of a file pays for module loading inside workerd, in a hook as in a test.
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
