import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./free-port.js";

/** Debian's package (`apt-get install prometheus`, as .ci/run does), or PROMETHEUS_PATH. */
export const PROMETHEUS = process.env.PROMETHEUS_PATH ?? "/usr/bin/prometheus";

/**
 * Whether the Prometheus tests run: yes when the binary is there; when it is not, they are
 * skipped with a message on a developer's machine, and fail under CI (which installs it).
 */
export function prometheusTestsRun(): boolean {
  if (existsSync(PROMETHEUS) || process.env.CI) return true;
  console.warn(`skipping the Prometheus probe tests: no Prometheus at ${PROMETHEUS} (apt-get install prometheus, or set PROMETHEUS_PATH)`);
  return false;
}

export interface PrometheusServer {
  url: string;
  stop(): Promise<void>;
}

/** A real Prometheus on a free port with throw-away storage, scraping `targets` every second. */
export async function startPrometheus(targets: string[]): Promise<PrometheusServer> {
  if (!existsSync(PROMETHEUS)) throw new Error(`no Prometheus at ${PROMETHEUS}: .ci/run installs it (apt-get install prometheus), or set PROMETHEUS_PATH`);
  const dir = mkdtempSync(join(tmpdir(), "baton-prometheus-"));
  const config = join(dir, "prometheus.yml");
  // Prometheus reads YAML, and JSON is YAML.
  writeFileSync(config, JSON.stringify({ global: { scrape_interval: "1s", evaluation_interval: "1s" }, scrape_configs: [{ job_name: "canary", static_configs: [{ targets }] }] }));
  const port = await freePort();
  const child: ChildProcess = spawn(
    PROMETHEUS,
    [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let log = "";
  child.stdout?.on("data", (d) => (log += d));
  child.stderr?.on("data", (d) => (log += d));
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/-/ready`)).ok) return { url, stop };
    } catch {
      // not up yet
    }
    if (Date.now() > deadline || child.exitCode !== null) {
      await stop();
      throw new Error(`Prometheus did not start:\n${log.slice(-3000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The value of an instant query now, or null when it has none (polling until the data is as a test needs). */
export async function instantValue(prometheus: string, query: string): Promise<number | null> {
  const response = await fetch(`${prometheus}/api/v1/query?${new URLSearchParams({ query })}`);
  const body = (await response.json()) as { data?: { result?: { value: [number, string] }[] } };
  const sample = body.data?.result?.[0]?.value;
  return sample ? Number(sample[1]) : null;
}
