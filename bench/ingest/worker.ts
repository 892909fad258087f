// The analyst's intake (takeDelivery → ActivityIndex) with the bundled configuration's actor
// detectors, in a Durable Object of its own, so that `bench/ingest/run.mjs` can measure the cost
// of one delivery against how many actions are already inside the windows. Signing and hashing
// (constant per receipt) are left out: this is the part whose cost used to grow with history.
import { DurableObject } from "cloudflare:workers";
import devConfig from "../../examples/dev-config.json";
import { ACTIVITY_INDEX_SCHEMA, ActivityIndex } from "../../src/analysis/activity-index.js";
import { DetectorSchema } from "../../src/analysis/detectors.js";
import { type DeliveredReceipt, takeDelivery } from "../../src/analysis/intake.js";
import { migrate } from "../../src/storage/migrate.js";
import type { ReceiptClaims } from "../../src/tokens/receipt.js";

const detectors = devConfig.detectors.map((d) => DetectorSchema.parse(d)).filter((d) => d.by === "actor");
const SCHEMA = [
  `${ACTIVITY_INDEX_SCHEMA}
   CREATE TABLE cursors (seq TEXT PRIMARY KEY, through INTEGER NOT NULL);
   CREATE TABLE pending_findings (key TEXT PRIMARY KEY, body TEXT NOT NULL);`,
];
const TOOLS = ["warehouse", "model", "dashboard", "expenses", "deployer"];

interface Batch {
  /** First action's time, milliseconds. */
  from: number;
  /** Milliseconds between actions. */
  step: number;
  count: number;
  /** Prefix of the sequence ids (one action per sequence, as many agents' sequences would). */
  prefix: string;
  /** "none": the same deliveries with no detector (what storing and the cursor cost alone). */
  detectors?: "bundled" | "none";
  /** "one": every action is the same tool/action pair (novelty always compares, never raises). */
  pairs?: "many" | "one";
}

export class IngestBench extends DurableObject {
  readonly #index: ActivityIndex;

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env as never);
    migrate(ctx.storage, SCHEMA);
    this.#index = new ActivityIndex(ctx.storage.sql);
  }

  /** One delivery per action, each in its own transaction, as the analyst takes them. */
  deliver(batch: Batch): { findings: number } {
    let findings = 0;
    for (let i = 0; i < batch.count; i++) {
      const seq = `${batch.prefix}-${i}`;
      const receipt: DeliveredReceipt = { claims: action(seq, batch.from + i * batch.step, batch.pairs === "one" ? 0 : i), hash: crypto.randomUUID() };
      const judged = batch.detectors === "none" ? [] : detectors;
      findings += this.ctx.storage.transactionSync(() => takeDelivery(this.ctx.storage.sql, this.#index, judged, seq, [receipt]).findings.length);
    }
    return { findings };
  }

  prune(): ReturnType<ActivityIndex["size"]> {
    while (this.ctx.storage.transactionSync(() => this.#index.prune(detectors))) {}
    return this.#index.size();
  }

  size(): ReturnType<ActivityIndex["size"]> {
    return this.#index.size();
  }
}

/** An allowed redeem: mostly plain reads; one in a hundred reads restricted data, one in a hundred writes to a public sink. */
function action(seq: string, at: number, i: number): ReceiptClaims {
  const labels = i % 100 === 0 ? ["restricted"] : i % 100 === 50 ? ["public"] : [];
  const effect = i % 100 === 50 ? "write" : "read";
  const tool = TOOLS[i % TOOLS.length] as string;
  return {
    seq,
    n: 0,
    at,
    kind: "redeem",
    decision: "ALLOW",
    code: null,
    inputs: { kind: "redeem", tool, action: `${tool}.act${i % 3}` },
    details: { labels, effect },
  } as unknown as ReceiptClaims;
}

export default {
  async fetch(request: Request, env: { INDEX: DurableObjectNamespace<IngestBench> }): Promise<Response> {
    const url = new URL(request.url);
    const object = env.INDEX.get(env.INDEX.idFromName(url.searchParams.get("object") ?? "default"));
    if (url.pathname === "/deliver") return Response.json(await object.deliver((await request.json()) as Batch));
    if (url.pathname === "/prune") return Response.json(await object.prune());
    if (url.pathname === "/size") return Response.json(await object.size());
    return new Response("not found", { status: 404 });
  },
};
