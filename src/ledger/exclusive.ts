import { type BatonConfig, loadConfig } from "../config/load.js";
import { loadKeyring } from "../config/keyring.js";
import { BatonError } from "../errors.js";
import type { Keyring } from "../tokens/keys.js";
import { type LedgerAnswer, refused } from "./answers.js";
import type { Caller } from "./protocol.js";
import type { LedgerStore } from "./store.js";

/**
 * Runs `work` with no other call of the object interleaved (blockConcurrencyWhile), and
 * never resets the object on a failure: the failure is rethrown after the section ends.
 */
export async function runExclusive(
  ctx: DurableObjectState,
  env: Env,
  work: (config: BatonConfig, keyring: Keyring) => Promise<LedgerAnswer>,
): Promise<LedgerAnswer> {
  // Loaded outside the exclusive section: they may call other objects, and are cached per isolate.
  const [config, keyring] = await Promise.all([loadConfig(env), loadKeyring(env)]);
  let result = { failure: new Error("not run") } as { answer: LedgerAnswer } | { failure: unknown };
  await ctx.blockConcurrencyWhile(async () => {
    try {
      result = { answer: await work(config, keyring) };
    } catch (failure) {
      result = { failure };
    }
  });
  if ("failure" in result) throw result.failure;
  return result.answer;
}

export type Idempotency = { key: string; requestDigest: string };

/** An idempotency key is the caller's: another caller's same key is another request. */
export function idempotencyKey(caller: Caller, key: string): string {
  return `${caller.id}\u0000${key}`;
}

/** The answer stored for a retried request, a conflict for the same key with another request, or null for a new one. */
export function replayedAnswer(store: LedgerStore, caller: Caller, idempotency: Idempotency): LedgerAnswer | null {
  const found = store.idempotent(idempotencyKey(caller, idempotency.key));
  if (!found) return null;
  if (found.requestDigest !== idempotency.requestDigest) {
    return refused(new BatonError("IDEMPOTENCY_CONFLICT", "Idempotency-Key was used with a different request"));
  }
  return found.answer;
}
