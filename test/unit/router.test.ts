import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/api/app.js";

describe("the API's router", () => {
  // hono's SmartRouter takes the first router that accepts every route: RegExpRouter (one
  // regular expression per method) unless a route is one it cannot take, and then TrieRouter,
  // which walks a tree per request (a `/docs/:file` beside `/docs/init.js` was such a route:
  // a third of a millisecond per request in `npm run bench:profile -- --scenario redeem`).
  it("is hono's RegExpRouter, for every route the API declares", async () => {
    const app = createApp();
    await app.request("/v1/redeem", { method: "POST" }, env); // the router is chosen by the first match
    expect(app.router.name).toBe("SmartRouter + RegExpRouter");
  });
});
