import { type Server, createServer } from "node:http";
import { decodeJwt } from "jose";

declare module "vitest" {
  export interface ProvidedContext {
    /** The port of the webhook endpoint the global setup configured Baton with (http://127.0.0.1:<port>/events). */
    webhookPort: number;
  }
}

export interface Delivery {
  jws: string;
  type: string | undefined;
  jti: string;
  seq: string | undefined;
  n: number | undefined;
  event: string;
  status: number;
}

/**
 * A real HTTP endpoint for Baton's webhooks that fails the first `failures` attempts of
 * every event (by jti) with a 500, then acknowledges it: an endpoint that goes down and
 * recovers, for every event. Keeps every attempt in arrival order.
 */
export async function startReceiver(port: number, failures = 1): Promise<{ deliveries: Delivery[]; close: () => Promise<void> }> {
  const deliveries: Delivery[] = [];
  const tries = new Map<string, number>();
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (c: Buffer) => chunks.push(c));
    request.on("end", () => {
      const jws = Buffer.concat(chunks).toString("utf8");
      let claims: Record<string, unknown>;
      try {
        claims = decodeJwt(jws);
      } catch {
        response.writeHead(400).end();
        return;
      }
      const jti = String(claims.jti);
      const tried = (tries.get(jti) ?? 0) + 1;
      tries.set(jti, tried);
      const status = tried <= failures ? 500 : 200;
      deliveries.push({
        jws,
        type: request.headers["content-type"],
        jti,
        seq: claims.seq as string | undefined,
        n: claims.n as number | undefined,
        event: String(claims.event),
        status,
      });
      response.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  return { deliveries, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
