import { defineConfig } from "vitest/config";

// The second half of `npm test`: the same verifier tests on Node (proving the
// library needs web-standard APIs only), plus Node-only suites (MCP guard), all
// against a real Baton under `wrangler dev` started by the global setup.
export default defineConfig({
  test: {
    environment: "node",
    reporters: process.env.TEST_REPORT_DIR ? ["default", ["json", { outputFile: `${process.env.TEST_REPORT_DIR}/node.json` }]] : ["default"],
    include: ["test/verifier/**/*.test.ts", "test/node/**/*.test.ts"],
    globalSetup: ["test/node/global-setup.ts"],
    retry: 0,
    testTimeout: 30_000,
    hookTimeout: 120_000,
  },
});
