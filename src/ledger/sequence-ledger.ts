import { DurableObject } from "cloudflare:workers";
import { type BatonConfig, loadConfig } from "../config/load.js";
import { BatonError } from "../errors.js";
import { withApprovalDigest } from "../policy/approval-subject.js";
import type { CompiledWorkflow } from "../policy/compile.js";
import { decide } from "../policy/decide.js";
import { exchangeProblem } from "../policy/exchange.js";
import { initialState } from "../policy/fold.js";
import type { AncestorStanding, CapabilityClaims, LedgerRequest, LedgerState, SequenceRecord } from "../policy/types.js";
import type { Keyring } from "../tokens/keys.js";
import { loadKeyring } from "../config/keyring.js";
import { isActivity, receiptHash, signHead, signReceipt } from "../tokens/receipt.js";
import { type SequenceOperation, mayAccess } from "./access.js";
import { type LedgerAnswer, currentCapability, decisionAnswer, refused, unknownSequence } from "./answers.js";
import { compiledWorkflow } from "./compiled.js";
import { type Idempotency, idempotencyKey, replayedAnswer, runExclusive } from "./exclusive.js";
import { describeSequence } from "./describe.js";
import { standingOf, withLineage } from "./lineage.js";
import { mintCapability } from "./mint.js";
import { OutboxRunner } from "./outbox-runner.js";
import { outboxTargets, outboxWants } from "./outbox-targets.js";
import { promotionOf } from "./promotion.js";
import {
  ApprovalInputSchema,
  type Caller,
  CapabilityInputSchema,
  DelegateInputSchema,
  DescribeInputSchema,
  EvidenceInputSchema,
  type LedgerProtocol,
  OutcomeInputSchema,
  ReceiptsInputSchema,
  RedeemInputSchema,
  RevokeInputSchema,
  StartInputSchema,
  parseInput,
} from "./protocol.js";
import { receiptClaims } from "./receipt-claims.js";
import { shadowOf } from "./shadow.js";
import { withSignals } from "./signals.js";
import { newSequence } from "./start.js";
import { type Head, LedgerStore, type StoredSequence } from "./store.js";

/** What a mutating call asks of `#mutate`: the request, and who may make it how. */
interface MutationOptions {
  caller: Caller;
  request: LedgerRequest;
  /** The access rule checked first; none where `decide()` itself judges the presentation (redeem, outcome). */
  operation?: SequenceOperation;
  idempotency?: Idempotency | undefined;
  /** A token exchange's subject token, checked against the state before anything is handed out or decided. */
  presented?: CapabilityClaims | undefined;
}

/**
 * One sequence's single source of truth: record, stage ledger, nonces, seal and
 * receipt chain. Each mutating call runs load → decide() → sign → commit with no
 * other call interleaved (blockConcurrencyWhile), and commits in one transaction
 * before it answers. Its public methods are the protocol (LedgerProtocol, which
 * types them for callers; each parses its argument, a boundary of its own), and
 * answer typed data (answers.ts) that the API renders as HTTP.
 */
export class SequenceLedger extends DurableObject<Env> implements LedgerProtocol {
  readonly #store: LedgerStore;
  readonly #outbox: OutboxRunner;
  /** The analysts' hand-over an answer waits for, keyed by the answer (OutboxRunner.afterCommit). */
  readonly #analysisBeforeAnswer = new WeakMap<LedgerAnswer, Promise<void>>();
  #record: SequenceRecord | null = null; // once read or written: it never changes

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#store = new LedgerStore(ctx.storage);
    this.#store.migrate();
    this.#outbox = new OutboxRunner(ctx.storage, () => this.#outboxTargets());
  }

  async start(raw: unknown): Promise<LedgerAnswer> {
    const input = parseInput(StartInputSchema, raw);
    if (!input.ok) return input.answer;
    const { caller, workflow, actorJkt, idempotency } = input.value;
    return runExclusive(this.ctx, this.env, async (config, keyring) => {
      if (this.#store.load()) {
        // Only an idempotent retry can reach an existing sequence through start.
        const replayed = idempotency && replayedAnswer(this.#store, caller, idempotency);
        return replayed ?? refused(new BatonError("IDEMPOTENCY_CONFLICT", "Idempotency-Key was used for another request"));
      }
      // (compiledWorkflow refuses a definition whose hash is not the one named.)
      const compiled = await compiledWorkflow(workflow.hash, workflow.definition);
      if (compiled.definition.sender_constrained && !actorJkt) {
        return refused(new BatonError("INVALID_REQUEST", "this workflow binds capabilities to the actor's key: actor_jwk is required"));
      }
      const { record, request } = newSequence(this.ctx.id.toString(), input.value, Date.now());
      const promotedFrom = await promotionOf(config, this.env.SEQUENCE_INDEX, workflow, record.seq, record.createdAt);
      return this.#decideAndCommit({
        promotedFrom,
        config,
        keyring,
        compiled,
        stored: { record, workflowDefinition: workflow.definition, capability: null },
        state: initialState(record, () => false),
        head: null,
        request,
        caller,
        idempotency,
        create: true,
        now: record.createdAt,
      });
    });
  }

  async redeem(raw: unknown): Promise<LedgerAnswer> {
    const input = parseInput(RedeemInputSchema, raw);
    if (!input.ok) return input.answer;
    const { caller, tool, action, args, token, tokenDigest, dpop, refused } = input.value;
    return this.#mutate({ caller, request: { kind: "redeem", tool, action, args, token, tokenDigest, dpop, ...(refused ? { refused } : {}) } });
  }

  async delegate(raw: unknown): Promise<LedgerAnswer> {
    const input = parseInput(DelegateInputSchema, raw);
    if (!input.ok) return input.answer;
    const { caller, token, tokenDigest, dpop, actor, grants } = input.value;
    return this.#mutate({ caller, operation: "delegate", request: { kind: "delegate", token, tokenDigest, dpop, actor, grants } });
  }

  async outcome(raw: unknown): Promise<LedgerAnswer> {
    const input = parseInput(OutcomeInputSchema, raw);
    if (!input.ok) return input.answer;
    const { caller, tool, redeemed, outcome, detail } = input.value;
    // The route checked that the receipt is Baton's and names this tool; the ledger decides the rest.
    return this.#mutate({ caller, request: { kind: "outcome", tool, redeemed, outcome, detail, fresh: { jti: crypto.randomUUID() } } });
  }

  async approval(raw: unknown): Promise<LedgerAnswer> {
    const input = parseInput(ApprovalInputSchema, raw);
    if (!input.ok) return input.answer;
    const { caller, approval, idempotency } = input.value;
    return this.#mutate({ caller, operation: "approval", idempotency, request: { kind: "approval", approval, fresh: { jti: crypto.randomUUID() } } });
  }

  async evidence(raw: unknown): Promise<LedgerAnswer> {
    const input = parseInput(EvidenceInputSchema, raw);
    if (!input.ok) return input.answer;
    const { caller, attestation, idempotency } = input.value;
    return this.#mutate({ caller, operation: "evidence", idempotency, request: { kind: "evidence", attestation, fresh: { jti: crypto.randomUUID() } } });
  }

  async capability(raw: unknown): Promise<LedgerAnswer> {
    const input = parseInput(CapabilityInputSchema, raw);
    if (!input.ok) return input.answer;
    const { caller, idempotency, presented } = input.value;
    const request = { kind: "reissue", agent: caller.id, fresh: { jti: crypto.randomUUID() } } as const;
    return this.#mutate({ caller, operation: "capability", idempotency, presented: presented?.token, request });
  }

  async revoke(raw: unknown): Promise<LedgerAnswer> {
    const input = parseInput(RevokeInputSchema, raw);
    if (!input.ok) return input.answer;
    const { caller, reason } = input.value;
    return this.#mutate({ caller, operation: "revoke", request: { kind: "revoke", orchestrator: caller.id, reason } });
  }

  async describe(raw: unknown): Promise<LedgerAnswer> {
    const input = parseInput(DescribeInputSchema, raw);
    if (!input.ok) return input.answer;
    const snapshot = this.#store.snapshot();
    const denied = this.#refuse(snapshot?.stored ?? null, input.value.caller, "describe");
    if (denied || !snapshot) return denied ?? unknownSequence();
    const { stored, head } = snapshot;
    const [config, keyring] = await Promise.all([loadConfig(this.env), loadKeyring(this.env)]);
    const compiled = await compiledWorkflow(stored.record.workflow, stored.workflowDefinition);
    const state = await withApprovalDigest(compiled, snapshot.state);
    const now = Date.now();
    const signedHead =
      head && (await signHead(keyring, { iss: config.issuer, seq: state.record.seq, n: head.n, hash: head.hash, at: now, sealed: state.status === "sealed" }));
    return { kind: "sequence", body: { ...describeSequence(compiled, state, head, now), signed_head: signedHead } };
  }

  async receipts(raw: unknown): Promise<LedgerAnswer> {
    const input = parseInput(ReceiptsInputSchema, raw);
    if (!input.ok) return input.answer;
    const stored = this.#store.load();
    const denied = this.#refuse(stored, input.value.caller, "receipts");
    if (denied || !stored) return denied ?? unknownSequence();
    const page = this.#store.receipts(input.value.after, input.value.limit);
    return { kind: "receipts", receipts: page.map((r) => r.jws), last: page.at(-1)?.n ?? null };
  }

  async standing(): Promise<AncestorStanding[]> {
    const snapshot = this.#store.snapshot();
    if (!snapshot) return [{ sequence: this.ctx.id.toString(), stage: "", status: "unknown" }];
    const { stored, state } = snapshot;
    return standingOf(this.env.SEQUENCES, await compiledWorkflow(stored.record.workflow, stored.workflowDefinition), state);
  }

  async #mutate(options: MutationOptions): Promise<LedgerAnswer> {
    const answer = await runExclusive(this.ctx, this.env, (config, keyring) => this.#decide(options, config, keyring));
    // Awaited after the exclusive section, so the next call on this sequence need not wait for it.
    await this.#analysisBeforeAnswer.get(answer);
    return answer;
  }

  async #decide({ caller, request, operation, idempotency, presented }: MutationOptions, config: BatonConfig, keyring: Keyring): Promise<LedgerAnswer> {
    const snapshot = this.#store.snapshot();
    if (!snapshot) return unknownSequence();
    const { stored, head } = snapshot;
    const denied = operation && this.#refuse(stored, caller, operation);
    if (denied) return denied;
    const replayed = idempotency && replayedAnswer(this.#store, caller, idempotency);
    if (replayed) return replayed;
    const compiled = await compiledWorkflow(stored.record.workflow, stored.workflowDefinition);
    const state = await withApprovalDigest(compiled, snapshot.state);
    const now = Date.now();
    const unfit = presented && exchangeProblem(compiled, state, presented);
    if (unfit) return refused(new BatonError(unfit.code, unfit.message, { details: unfit.details }));
    // The live capability is handed out again as is while the gate would still honour it
    // (exp + skew, the gate's own rule): a read, not a decision, and no re-issue spent.
    if (request.kind === "reissue" && state.status === "active" && stored.capability) {
      const skew = compiled.definition.clock_skew_seconds;
      if (stored.capability.exp + skew > now / 1000) return currentCapability(stored, stored.capability, state);
    }
    const consulted = await withLineage(this.env.SEQUENCES, state, await withSignals(this.env.ANALYSTS, compiled, state.record, request));
    return this.#decideAndCommit({ config, keyring, compiled, stored, state, head, request: consulted, caller, idempotency, create: false, now });
  }

  async #decideAndCommit(run: {
    config: BatonConfig;
    keyring: Keyring;
    compiled: CompiledWorkflow;
    stored: StoredSequence;
    state: LedgerState;
    head: Head | null; // the chain's last receipt as the snapshot read it (the commit checks it has not moved)
    request: LedgerRequest;
    caller: Caller;
    idempotency: Idempotency | undefined;
    create: boolean;
    now: number;
    promotedFrom?: string | undefined;
  }): Promise<LedgerAnswer> {
    const { config, keyring, compiled, stored, state, head, request, now } = run;
    const outcome = decide(compiled, state, request, now);
    // A sealed chain is closed: its last receipt is the seal, so refusals after it
    // are answered but not receipted (and no state can change).
    if (state.status === "sealed" && outcome.code) {
      return refused(new BatonError(outcome.code, outcome.message, { details: outcome.details }));
    }
    // The candidate decides beside the enforced version, from the same inputs; it changes nothing but the receipt's `shadow`.
    const shadow = await shadowOf(config, { enforced: compiled, state, request, now, outcome });
    const claims = receiptClaims({ issuer: config.issuer, compiled, state, request, outcome, head, now, shadow, promotedFrom: run.promotedFrom });
    const receipt = await signReceipt(keyring, claims);
    const hash = await receiptHash(receipt);
    // The store counts re-issues as it applies the `capability` effect; the answer needs only the token.
    const capability = outcome.mint && {
      token: await mintCapability(keyring, config.issuer, compiled, state.record, outcome.mint, hash),
      exp: outcome.mint.exp,
    };

    const answer = decisionAnswer(outcome, request, receipt, capability, stored, compiled);
    const activity = isActivity(request.kind, outcome.decision);
    // The cursors the last run moved are written in this commit's transaction (outbox-memory.ts).
    this.#outbox.beforeCommit();
    this.#store.commit({
      effects: outcome.effects,
      receipt: { n: claims.n, hash, jws: receipt, activity },
      capabilityToken: capability?.token ?? null,
      idempotency: run.idempotency
        ? { key: idempotencyKey(run.caller, run.idempotency.key), requestDigest: run.idempotency.requestDigest, answer }
        : null,
      ...(run.create ? { create: { record: state.record, workflowDefinition: stored.workflowDefinition } } : {}),
      now,
    });
    this.#outbox.committed({ n: claims.n, jws: receipt, activity: activity ? 1 : 0 });
    this.#record = state.record;
    const handover = await this.#outbox.afterCommit(outboxWants(config, claims, activity), now);
    if (handover) this.#analysisBeforeAnswer.set(answer, handover);
    return answer;
  }

  /** Delivers committed receipts to the outbox's targets (outbox.ts); each failing one retries from its cursor, with backoff. */
  override async alarm(): Promise<void> {
    await this.#outbox.run();
  }

  async #outboxTargets() {
    // The record does not change once written: the decision that committed just read it.
    const record = this.#record ?? this.#store.load()?.record;
    if (!record) return null;
    const [config, keyring] = await Promise.all([loadConfig(this.env), loadKeyring(this.env)]);
    const bindings = { analysts: this.env.ANALYSTS, index: this.env.SEQUENCE_INDEX, keyring, fetcher: (url: string, init: RequestInit) => fetch(url, init) };
    return outboxTargets(config, record, bindings);
  }

  #refuse(stored: StoredSequence | null, caller: Caller, operation: SequenceOperation): LedgerAnswer | null {
    if (!stored) return unknownSequence();
    if (!mayAccess(caller, stored.record, operation)) {
      return refused(new BatonError("FORBIDDEN", `${caller.role} ${caller.id} may not ${operation} this sequence`));
    }
    return null;
  }
}
