import { DurableObject } from "cloudflare:workers";
import { type SigningKeyset, generateSigningKeyset } from "../tokens/keys.js";

/**
 * DEVELOPMENT ONLY: generates Baton's signing key set on first use and keeps it
 * in this object's local storage, so a fresh clone runs with no manual key step
 * and tokens survive restarts of `wrangler dev`. Production uses the
 * BATON_SIGNING_KEYS secret instead, and `loadKeyring` never calls this there.
 */
export class DevKeyVault extends DurableObject<Env> {
  #keyset: SigningKeyset | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // Runs before any call is delivered: two first calls cannot both generate.
    ctx.blockConcurrencyWhile(async () => {
      this.#keyset = await ctx.storage.get<SigningKeyset>("keyset");
      if (!this.#keyset) {
        this.#keyset = await generateSigningKeyset(`dev-${crypto.randomUUID().slice(0, 8)}`);
        await ctx.storage.put("keyset", this.#keyset);
      }
    });
  }

  async keyset(): Promise<SigningKeyset> {
    if (!this.#keyset) throw new Error("key set not initialised");
    return this.#keyset;
  }
}
