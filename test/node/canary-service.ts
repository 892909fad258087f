import { type Server, createServer } from "node:http";
import { freePort } from "./free-port.js";

/**
 * A small service under canary, for the probe's tests: it serves `http_requests_total` per
 * status code in the Prometheus text format at /metrics, with counters that grow by 1000
 * requests every 100 ms, `errorRatio` of them 500s (the test sets it), and a /healthz whose
 * status and delay the test sets too.
 */
export interface CanaryService {
  url: string;
  /** host:port, as a Prometheus scrape target. */
  target: string;
  setErrorRatio(ratio: number): void;
  setHealth(status: number, delayMs?: number): void;
  close(): Promise<void>;
}

export async function startCanaryService(version: string): Promise<CanaryService> {
  let ok = 0;
  let errors = 0;
  let errorRatio = 0;
  let health = { status: 200, delayMs: 0 };
  const tick = setInterval(() => {
    const failing = Math.round(1000 * errorRatio);
    errors += failing;
    ok += 1000 - failing;
  }, 100);
  const server: Server = createServer((request, response) => {
    if (request.url === "/metrics") {
      response.setHeader("content-type", "text/plain; version=0.0.4");
      response.end(
        [
          "# HELP http_requests_total Requests served, by status code.",
          "# TYPE http_requests_total counter",
          `http_requests_total{code="200",version="${version}"} ${ok}`,
          `http_requests_total{code="500",version="${version}"} ${errors}`,
          "",
        ].join("\n"),
      );
      return;
    }
    if (request.url === "/healthz") {
      const { status, delayMs } = health;
      setTimeout(() => {
        response.statusCode = status;
        response.end(status === 200 ? "ok" : "unhealthy");
      }, delayMs);
      return;
    }
    response.statusCode = 404;
    response.end();
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${port}`,
    target: `127.0.0.1:${port}`,
    setErrorRatio: (ratio) => {
      errorRatio = ratio;
    },
    setHealth: (status, delayMs = 0) => {
      health = { status, delayMs };
    },
    close: () => {
      clearInterval(tick);
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
