/**
 * The model-based test alone, with its sizes from the environment:
 *   MODEL_RUNS=200 MODEL_COMMANDS=20 npx vitest run -c test/model/vitest.config.ts
 *   MODEL_SEED=<seed> MODEL_PATH=<path> MODEL_REPLAY_PATH=<replayPath> … to replay what fast-check printed.
 *   MODEL_STRICT=1 … checks the documented behaviour where the Worker is known to differ.
 * The variables are read here, in Node, and handed to the test at run time with
 * `provide`/`inject`: process.env does not reach tests inside workerd, and
 * `import.meta.env` (VITE_*) would be baked into vitest's module cache.
 */
import { fileURLToPath } from "node:url";
import { defineConfig, mergeConfig } from "vitest/config";
import base from "../../vitest.config.js";

const number = (name: string) => (process.env[name] ? Number(process.env[name]) : undefined);

const config = mergeConfig(
  base,
  defineConfig({
    root: fileURLToPath(new URL("../..", import.meta.url)),
    test: {
      provide: {
        model: {
          runs: number("MODEL_RUNS"),
          commands: number("MODEL_COMMANDS"),
          seed: number("MODEL_SEED"),
          path: process.env.MODEL_PATH,
          replayPath: process.env.MODEL_REPLAY_PATH,
          strict: process.env.MODEL_STRICT === "1",
        },
      },
    },
  }),
);
// mergeConfig concatenates arrays: replace the base's include rather than add to it.
if (config.test) config.test.include = ["test/model/**/*.test.ts"];
export default config;
