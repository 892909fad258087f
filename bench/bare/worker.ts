// The floor of `npm run bench`: a Worker whose fetch handler makes one RPC call on a
// SQLite-backed Durable Object that reads and writes one row, then answers with JSON.
// Same shape as Baton's gate (Worker -> object -> ctx.storage.sql -> answer) minus all of
// Baton's work (auth, JWS verification, policy, receipts).
import { DurableObject } from "cloudflare:workers";

interface Env {
  BARE: DurableObjectNamespace<BareObject>;
}

export class BareObject extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)");
  }

  /**
   * One read and one write in the object's SQLite database; with `next`, also one call on the
   * object of that name after the write, not awaited by the answer: the least that telling a
   * second object costs (Baton's ledger hands each allowed redeem to the actor's analyst so).
   */
  touch(next?: string): number {
    const sql = this.ctx.storage.sql;
    const row = sql.exec<{ n: number }>("SELECT n FROM counter WHERE id = 1").toArray()[0];
    const n = (row?.n ?? 0) + 1;
    sql.exec("INSERT INTO counter (id, n) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET n = excluded.n", n);
    if (next !== undefined) {
      const second = this.env.BARE.get(this.env.BARE.idFromName(next));
      this.ctx.waitUntil(second.touch().then(() => undefined, (error: unknown) => console.error("second call failed", error)));
    }
    return n;
  }
}

export default {
  // POST / with body {"object": "<name>", "next"?: "<name>"}: touch the object of that name (default "floor"), and then the second one.
  // The benchmark names a different, already created object per request, as redeem does.
  async fetch(request: Request, env: Env): Promise<Response> {
    let name = "floor";
    let next: string | undefined;
    if (request.method === "POST") {
      const body = (await request.json()) as { object?: unknown; next?: unknown };
      if (typeof body.object === "string") name = body.object;
      if (typeof body.next === "string") next = body.next;
    }
    const n = await env.BARE.get(env.BARE.idFromName(name)).touch(next);
    return Response.json({ object: name, n });
  },
} satisfies ExportedHandler<Env>;
