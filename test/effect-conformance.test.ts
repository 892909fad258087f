import { env, runInDurableObject } from "cloudflare:test";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LedgerInvariantError, LedgerStore } from "../src/ledger/store.js";
import { applyEffects, initialState, nonceKey } from "../src/policy/fold.js";
import type { Effect, LedgerState, NonceKind, SequenceRecord } from "../src/policy/types.js";

/**
 * One semantics, two interpreters: `LedgerStore.commit` applies a decision's
 * effects as SQL (the live ledger), `applyEffects` folds them in memory (the
 * auditor's replay). Random histories of effects through both must leave the same
 * ledger, or a replay would judge a chain against a state the ledger never had.
 */

const KINDS: NonceKind[] = ["capability", "attestation", "approval", "dpop", "outcome"];
const JTIS = ["j0", "j1", "j2", "j3", "j4", "j5", "j6", "j7"];
// Approver ids where code-point order (SQLite's BINARY collation of UTF-8) and UTF-16 order
// disagree: U+E000 sorts before U+1F600 by code point, after it by UTF-16 code unit.
const APPROVERS = ["q01", "q02", "q03", "Zed", "élan", "\uE000", "\u{1F600}", "a\u0000b"];

const approver = fc.oneof(
  fc.constantFrom(...APPROVERS),
  // Any code point, but no lone surrogate: SQLite stores text as UTF-8, which has none.
  fc.string({ unit: "binary", minLength: 1, maxLength: 3 }).filter((s) => !/\p{Cs}/u.test(s)),
);
const text = fc.string({ maxLength: 6 });
const int = fc.integer({ min: 0, max: 2_000_000_000 });

/** An effect as generated: `advance` gets its stage (always the next one, as `decide()` does) when applied. */
type Generated = Exclude<Effect, { type: "advance" }> | { type: "advance" };

const effect: fc.Arbitrary<Generated> = fc.oneof(
  fc.record(
    { type: fc.constant("use" as const), grant: fc.integer({ min: 0, max: 3 }), count: fc.integer({ min: 0, max: 3 }), amount: fc.integer({ min: -500, max: 500 }) },
    { requiredKeys: ["type", "grant"] },
  ),
  fc.record({ type: fc.constant("spend" as const), kind: fc.constantFrom(...KINDS), jti: fc.constantFrom(...JTIS) }),
  fc.record({
    type: fc.constant("accept_evidence" as const),
    evidence: fc.record({ requirement: fc.nat(4), iss: text, type: text, jti: text, digest: text }),
  }),
  fc.record({
    type: fc.constant("accept_approval" as const),
    approval: fc.record({ approver, jti: text, digest: text, iat: int, expires_at: int }),
  }),
  fc.record({
    type: fc.constant("accept_outcome" as const),
    outcome: fc.record({ requirement: fc.nat(4), tool: text, action: text, receipt: text }),
  }),
  fc.record({
    type: fc.constant("reject_gate" as const),
    rejection: fc.record({ approver, jti: text, at: int, comment: text }, { requiredKeys: ["approver", "jti", "at"] }),
  }),
  fc.constant({ type: "advance" as const }),
  fc.record({ type: fc.constant("capability" as const), jti: text, exp: int, reissue: fc.boolean() }),
  fc.record({ type: fc.constant("seal" as const), reason: fc.constantFrom("completed" as const, "revoked" as const) }),
);

/** A history: the decisions' effect lists, in order (the first is the start's). */
const history = fc.array(fc.array(effect, { maxLength: 8 }), { minLength: 1, maxLength: 12 });

let objects = 0;

/**
 * What both interpreters must agree on. Legitimately different: `nonceUsed` (an
 * index query against a Set lookup; compared nonce by nonce instead), and holes in
 * `uses`/`totals` (SQL reads a grant never used as 0, the fold leaves it unset;
 * every reader takes `?? 0`).
 */
function comparable(state: LedgerState) {
  const { nonceUsed: _n, approvalDigest: _d, uses, totals, ...rest } = state;
  const dense = (values: number[]) => Array.from({ length: 4 }, (_, i) => values[i] ?? 0);
  return { ...rest, uses: dense(uses), totals: dense(totals) };
}

describe("one effect interpreter: the SQL store and the in-memory fold agree", () => {
  it("random effect histories leave equal states through LedgerStore.commit + snapshot() and applyEffects", async () => {
    await fc.assert(
      fc.asyncProperty(history, async (decisions) => {
        const stub = env.SEQUENCES.get(env.SEQUENCES.idFromName(`effect-conformance-${objects++}`));
        await runInDurableObject(stub, async (_instance, state) => {
          const store = new LedgerStore(state.storage);
          const record: SequenceRecord = {
            seq: "seq-under-test",
            workflowId: "w",
            workflow: "hash",
            params: { p: 1 },
            subject: "user:alice",
            actor: "agent-7",
            orchestrator: "orchestrator",
            createdAt: 1,
          };
          const spent = new Set<string>();
          let folded = initialState(record, (kind, jti) => spent.has(nonceKey(kind, jti)));
          let n = 0;
          for (const [index, generated] of decisions.entries()) {
            let stage = folded.stage;
            const effects: Effect[] = generated.map((e) => (e.type === "advance" ? { type: "advance", stage: ++stage } : e));
            const spends = effects.flatMap((e) => (e.type === "spend" ? [nonceKey(e.kind, e.jti)] : []));
            const respent = spends.some((key, i) => spent.has(key) || spends.indexOf(key) !== i);
            const commit = () =>
              store.commit({
                effects,
                receipt: { n, hash: `h${n}`, jws: `r${n}`, activity: false },
                capabilityToken: `token-${n}`,
                idempotency: null,
                ...(index === 0 ? { create: { record, workflowDefinition: "{}" } } : {}),
                now: 1_000 + n,
              });
            if (respent) {
              // The store refuses a second spend of a nonce and rolls the whole decision back.
              expect(commit).toThrow(LedgerInvariantError);
              if (index === 0) return;
            } else {
              commit();
              n++;
              folded = { ...applyEffects(folded, effects, spent), nonceUsed: folded.nonceUsed };
            }
            const snapshot = store.snapshot();
            if (!snapshot) throw new Error("the sequence was not created");
            const { stored, state: live } = snapshot;
            expect(comparable(live)).toEqual(comparable(folded));
            for (const kind of KINDS) {
              for (const jti of JTIS) expect(live.nonceUsed(kind, jti), `${kind} ${jti}`).toBe(spent.has(nonceKey(kind, jti)));
            }
            // The token stored for re-delivery is the one of the capability the effects left current.
            if (folded.capability) expect(stored.capability?.token).toMatch(/^token-/);
            else expect(stored.capability).toBeNull();
            expect(snapshot.head).toEqual(n === 0 ? null : { n: n - 1, hash: `h${n - 1}` });
          }
        });
      }),
      { numRuns: 60 },
    );
  });
});
