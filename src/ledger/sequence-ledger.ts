import { DurableObject } from "cloudflare:workers";
import type { z } from "zod";
import { type BatonConfig, loadConfig } from "../config/load.js";
import { BatonError } from "../errors.js";
import { type CompiledWorkflow, compileWorkflow } from "../policy/compile.js";
import { withApprovalDigest } from "../policy/approval-subject.js";
import { decide } from "../policy/decide.js";
import { declaredSignals } from "../policy/workflow-schema.js";
import type { ConsultedSignal, LedgerRequest, LedgerState, SequenceRecord } from "../policy/types.js";
import type { Keyring } from "../tokens/keys.js";
import { loadKeyring } from "../tokens/keyring-source.js";
import { type ReceiptClaims, isActivity, receiptHash, signHead, signReceipt } from "../tokens/receipt.js";
import { type SequenceOperation, mayAccess } from "./access.js";
import { capabilityBody, error, mintCapability, render, reply, unknownSequence } from "./answers.js";
import { describeSequence } from "./describe.js";
import {
  type ApprovalInput,
  ApprovalInputSchema,
  type CapabilityInput,
  CapabilityInputSchema,
  type DelegateInput,
  DelegateInputSchema,
  type OutcomeInput,
  OutcomeInputSchema,
  type Caller,
  type DescribeInput,
  DescribeInputSchema,
  type EvidenceInput,
  EvidenceInputSchema,
  type LedgerAnswer,
  type ReceiptsInput,
  ReceiptsInputSchema,
  type RedeemInput,
  RedeemInputSchema,
  type RevokeInput,
  RevokeInputSchema,
  type StartInput,
  StartInputSchema,
} from "./protocol.js";
import { LedgerStore, type StoredSequence } from "./store.js";

type Idempotency = { key: string; requestDigest: string } | undefined;

/** Receipts handed to the analysis plane per call, and the pause before retrying a failed delivery. */
const DELIVERY_BATCH = 200;
const DELIVERY_RETRY_MS = 2_000;
/** The decisions a declared signal can bear on: a grant's use, and a gate's opening. */
const SIGNAL_CONSULTING = new Set<LedgerRequest["kind"]>(["redeem", "evidence", "approval", "outcome"]);

/**
 * One sequence's single source of truth: record, stage ledger, nonces, seal and
 * receipt chain. Each mutating call runs load → decide() → sign → commit with no
 * other call interleaved (blockConcurrencyWhile), and commits in one transaction
 * before it answers. Its public methods are the protocol, nothing else.
 */
export class SequenceLedger extends DurableObject<Env> {
  readonly #store: LedgerStore;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#store = new LedgerStore(ctx.storage);
    this.#store.migrate();
  }

  async start(raw: StartInput): Promise<LedgerAnswer> {
    const input = parse(StartInputSchema, raw);
    if (!input.ok) return input.answer;
    const { caller, workflow, params, subject, actor, actorJkt, delegation, idempotency } = input.value;
    return this.#exclusive(async (config, keyring) => {
      const existing = this.#store.load();
      if (existing) {
        // Only an idempotent retry can reach an existing sequence through start.
        const replayed = idempotency && this.#replayed(caller, idempotency);
        return replayed ?? error(new BatonError("IDEMPOTENCY_CONFLICT", "Idempotency-Key was used for another request"));
      }
      // (compiledWorkflow refuses a definition whose hash is not the one named.)
      const compiled = await compiledWorkflow(workflow.hash, workflow.definition);
      if (compiled.definition.sender_constrained && !actorJkt) {
        return error(new BatonError("INVALID_REQUEST", "this workflow binds capabilities to the actor's key: actor_jwk is required"));
      }
      const record: SequenceRecord = {
        seq: this.ctx.id.toString(),
        workflowId: workflow.id,
        workflow: workflow.hash,
        params,
        subject,
        actor,
        orchestrator: input.value.orchestrator ?? caller.id,
        createdAt: Date.now(),
        ...(actorJkt ? { actorJkt } : {}),
        ...(delegation ? { delegation: delegation as SequenceRecord["delegation"] & object } : {}),
      };
      const stored: StoredSequence = { record, workflowDefinition: workflow.definition, capability: null };
      const state: LedgerState = {
        record,
        status: "active",
        sealReason: null,
        stage: 0,
        uses: [],
        totals: [],
        evidence: [],
        outcomes: [],
        approvals: [],
        rejection: null,
        approvalDigest: null,
        capability: null,
        nonceUsed: () => false,
      };
      const request: LedgerRequest = {
        kind: "start",
        params,
        subject,
        actor,
        orchestrator: record.orchestrator,
        ...(record.actorJkt ? { actorJkt: record.actorJkt } : {}),
        ...(record.delegation ? { delegation: record.delegation } : {}),
        fresh: { jti: crypto.randomUUID() },
      };
      return this.#decideAndCommit({ config, keyring, compiled, stored, state, request, caller, idempotency, create: true, now: record.createdAt });
    });
  }

  async redeem(raw: RedeemInput): Promise<LedgerAnswer> {
    const input = parse(RedeemInputSchema, raw);
    if (!input.ok) return input.answer;
    const { caller, tool, action, args, token, tokenDigest, dpop, refused } = input.value;
    return this.#mutate(caller, null, undefined, { kind: "redeem", tool, action, args, token, tokenDigest, dpop, ...(refused ? { refused } : {}) });
  }

  async delegate(raw: DelegateInput): Promise<LedgerAnswer> {
    const input = parse(DelegateInputSchema, raw);
    if (!input.ok) return input.answer;
    const { caller, token, tokenDigest, dpop, actor, grants } = input.value;
    return this.#mutate(caller, "delegate", undefined, { kind: "delegate", token, tokenDigest, dpop, actor, grants });
  }

  async outcome(raw: OutcomeInput): Promise<LedgerAnswer> {
    const input = parse(OutcomeInputSchema, raw);
    if (!input.ok) return input.answer;
    const { caller, tool, redeemed, outcome, detail } = input.value;
    // The route checked that the receipt is Baton's and names this tool; the ledger decides the rest.
    return this.#mutate(caller, null, undefined, { kind: "outcome", tool, redeemed, outcome, detail, fresh: { jti: crypto.randomUUID() } });
  }

  async approval(raw: ApprovalInput): Promise<LedgerAnswer> {
    const input = parse(ApprovalInputSchema, raw);
    if (!input.ok) return input.answer;
    const { caller, approval, idempotency } = input.value;
    return this.#mutate(caller, "approval", idempotency, { kind: "approval", approval, fresh: { jti: crypto.randomUUID() } });
  }

  async evidence(raw: EvidenceInput): Promise<LedgerAnswer> {
    const input = parse(EvidenceInputSchema, raw);
    if (!input.ok) return input.answer;
    const { caller, attestation, idempotency } = input.value;
    return this.#mutate(caller, "evidence", idempotency, {
      kind: "evidence",
      attestation,
      fresh: { jti: crypto.randomUUID() },
    });
  }

  async capability(raw: CapabilityInput): Promise<LedgerAnswer> {
    const input = parse(CapabilityInputSchema, raw);
    if (!input.ok) return input.answer;
    const { caller, idempotency } = input.value;
    return this.#mutate(caller, "capability", idempotency, { kind: "reissue", agent: caller.id, fresh: { jti: crypto.randomUUID() } });
  }

  async revoke(raw: RevokeInput): Promise<LedgerAnswer> {
    const input = parse(RevokeInputSchema, raw);
    if (!input.ok) return input.answer;
    const { caller, reason } = input.value;
    return this.#mutate(caller, "revoke", undefined, { kind: "revoke", orchestrator: caller.id, reason });
  }

  async describe(raw: DescribeInput): Promise<LedgerAnswer> {
    const input = parse(DescribeInputSchema, raw);
    if (!input.ok) return input.answer;
    const stored = this.#store.load();
    const refused = this.#refuse(stored, input.value.caller, "describe");
    if (refused || !stored) return refused ?? unknownSequence();
    const [config, keyring] = await Promise.all([loadConfig(this.env), loadKeyring(this.env)]);
    const compiled = await compiledWorkflow(stored.record.workflow, stored.workflowDefinition);
    const state = await withApprovalDigest(compiled, this.#store.state(stored));
    const head = this.#store.head();
    const now = Date.now();
    const signedHead =
      head && (await signHead(keyring, { iss: config.issuer, seq: state.record.seq, n: head.n, hash: head.hash, at: now, sealed: state.status === "sealed" }));
    return reply(200, { ...describeSequence(compiled, state, head, now), signed_head: signedHead });
  }

  async receipts(raw: ReceiptsInput): Promise<LedgerAnswer> {
    const input = parse(ReceiptsInputSchema, raw);
    if (!input.ok) return input.answer;
    const stored = this.#store.load();
    const refused = this.#refuse(stored, input.value.caller, "receipts");
    if (refused || !stored) return refused ?? unknownSequence();
    const page = this.#store.receipts(input.value.after, input.value.limit);
    return reply(200, { receipts: page.map((r) => r.jws), last: page.at(-1)?.n ?? null });
  }

  /** Runs `work` with no other call of this object interleaved, and never resets the object on a failure. */
  async #exclusive(work: (config: BatonConfig, keyring: Keyring) => Promise<LedgerAnswer>): Promise<LedgerAnswer> {
    // Loaded outside the exclusive section: they may call other objects, and are cached per isolate.
    const [config, keyring] = await Promise.all([loadConfig(this.env), loadKeyring(this.env)]);
    let result = { failure: new Error("not run") } as { answer: LedgerAnswer } | { failure: unknown };
    await this.ctx.blockConcurrencyWhile(async () => {
      try {
        result = { answer: await work(config, keyring) };
      } catch (failure) {
        result = { failure };
      }
    });
    if ("failure" in result) throw result.failure;
    return result.answer;
  }

  #mutate(
    caller: Caller,
    operation: SequenceOperation | null,
    idempotency: Idempotency,
    request: LedgerRequest,
  ): Promise<LedgerAnswer> {
    return this.#exclusive(async (config, keyring) => {
      const stored = this.#store.load();
      if (!stored) return unknownSequence();
      if (operation) {
        const refused = this.#refuse(stored, caller, operation);
        if (refused) return refused;
      }
      if (idempotency) {
        const replayed = this.#replayed(caller, idempotency);
        if (replayed) return replayed;
      }
      const compiled = await compiledWorkflow(stored.record.workflow, stored.workflowDefinition);
      const state = await withApprovalDigest(compiled, this.#store.state(stored));
      // Signals are inputs only where the workflow declares them; then they are fetched and recorded.
      const declared = declaredSignals(compiled.definition);
      if (declared.length > 0 && SIGNAL_CONSULTING.has(request.kind)) {
        (request as { signals?: ConsultedSignal[] }).signals = await this.#signalsFor(state.record, declared);
      }
      const now = Date.now();
      // The live capability is handed out again as is while the gate would still honour it
      // (exp + skew, the gate's own rule): a read, not a decision, and no re-issue spent.
      if (request.kind === "reissue" && state.status === "active" && stored.capability) {
        const skew = compiled.definition.clock_skew_seconds;
        if (stored.capability.exp + skew > now / 1000) {
          return reply(200, capabilityBody(stored, stored.capability, state));
        }
      }
      return this.#decideAndCommit({ config, keyring, compiled, stored, state, request, caller, idempotency, create: false, now });
    });
  }

  async #decideAndCommit(run: {
    config: BatonConfig;
    keyring: Keyring;
    compiled: CompiledWorkflow;
    stored: StoredSequence;
    state: LedgerState;
    request: LedgerRequest;
    caller: Caller;
    idempotency: Idempotency;
    create: boolean;
    now: number;
  }): Promise<LedgerAnswer> {
    const { config, keyring, compiled, stored, state, request, now } = run;
    const outcome = decide(compiled, state, request, now);
    // A sealed chain is closed: its last receipt is the seal, so refusals after it
    // are answered but not receipted (and no state can change).
    if (state.status === "sealed" && outcome.code) {
      return error(new BatonError(outcome.code, outcome.message, { details: outcome.details }));
    }
    const head = this.#store.head();
    const stage = compiled.definition.stages[state.stage]?.id ?? "";
    const claims: ReceiptClaims = {
      iss: config.issuer,
      seq: state.record.seq,
      n: head ? head.n + 1 : 0,
      prev: head?.hash ?? null,
      at: now,
      kind: request.kind,
      stage,
      decision: outcome.decision,
      code: outcome.code,
      message: outcome.message,
      ...(outcome.details === undefined ? {} : { details: outcome.details }),
      workflow: compiled.hash,
      inputs: request,
      effects: outcome.effects,
      nonce: presentedNonce(request),
      minted: outcome.mint && { jti: outcome.mint.jti, stage: outcome.mint.stageId, exp: outcome.mint.exp },
    };
    const receipt = await signReceipt(keyring, claims);
    const hash = await receiptHash(receipt);

    // The store counts re-issues as it applies the `capability` effect; the answer needs only the token.
    const capability = outcome.mint && {
      token: await mintCapability(keyring, config.issuer, compiled, state.record, outcome.mint, hash),
      exp: outcome.mint.exp,
    };

    const answer = render(outcome, request, receipt, capability, stored, compiled);
    const activity = isActivity(request.kind, outcome.decision);
    this.#store.commit({
      effects: outcome.effects,
      receipt: { n: claims.n, hash, jws: receipt, activity },
      capabilityToken: capability?.token ?? null,
      idempotency: run.idempotency
        ? {
            key: idempotencyKey(run.caller, run.idempotency.key),
            requestDigest: run.idempotency.requestDigest,
            status: answer.status,
            body: answer.body,
          }
        : null,
      ...(run.create ? { create: { record: state.record, workflowDefinition: stored.workflowDefinition } } : {}),
      now,
    });
    // The outbox is the chain itself: an alarm hands new activity to the analysis plane.
    // Other receipts wait in it (the analysts do not read them) and move the cursor with the next.
    if (activity && config.detectors.length > 0) await this.ctx.storage.setAlarm(now);
    return answer;
  }

  /**
   * Delivers committed receipts to the analysis plane — the actor's and the
   * subject's analysts — in order, at least once: the cursor moves only as far
   * as an analyst acknowledged, and a failure retries from there.
   */
  override async alarm(): Promise<void> {
    const stored = this.#store.load();
    if (!stored) return;
    const { record } = stored;
    const config = await loadConfig(this.env);
    // Only the parties some detector watches: an analyst without detectors has nothing to do
    // with a receipt. A detector configured later catches up from the cursor, which stays put.
    const watched = { actor: `actor:${record.actor}`, subject: `subject:${record.subject}` };
    const targets = (["actor", "subject"] as const).filter((by) => config.detectors.some((d) => d.by === by)).map((by) => watched[by]);
    let more = false;
    let refused = false;
    try {
      for (const target of targets) {
        const after = this.#store.delivered(target);
        const page = this.#store.outbox(after, DELIVERY_BATCH);
        if (!page) continue;
        let through = page.through;
        if (page.receipts.length > 0) {
          const analyst = this.env.ANALYSTS.get(this.env.ANALYSTS.idFromName(target));
          ({ through } = await analyst.ingest({ scope: target, seq: record.seq, after, through: page.through, receipts: page.receipts }));
        }
        this.#store.setDelivered(target, through);
        more ||= page.full;
        refused ||= through < page.through;
      }
    } catch (error) {
      console.error("receipt delivery to the analysis plane failed; retrying", error);
      refused = true;
    }
    if (refused) await this.ctx.storage.setAlarm(Date.now() + DELIVERY_RETRY_MS);
    else if (more) await this.ctx.storage.setAlarm(Date.now());
  }

  /** The active signals of the detectors this workflow declares, for the sequence's actor and subject. */
  async #signalsFor(record: SequenceRecord, declared: string[]): Promise<ConsultedSignal[]> {
    const lists = await Promise.all(
      [`actor:${record.actor}`, `subject:${record.subject}`].map((scope) =>
        this.env.ANALYSTS.get(this.env.ANALYSTS.idFromName(scope)).active({ scope, detectors: declared }),
      ),
    );
    return lists.flat().sort((a, b) => a.id.localeCompare(b.id));
  }

  #refuse(stored: StoredSequence | null, caller: Caller, operation: SequenceOperation): LedgerAnswer | null {
    if (!stored) return unknownSequence();
    if (!mayAccess(caller, stored.record, operation)) {
      return error(new BatonError("FORBIDDEN", `${caller.role} ${caller.id} may not ${operation} this sequence`));
    }
    return null;
  }

  #replayed(caller: Caller, idempotency: { key: string; requestDigest: string }): LedgerAnswer | null {
    const found = this.#store.idempotent(idempotencyKey(caller, idempotency.key));
    if (!found) return null;
    if (found.requestDigest !== idempotency.requestDigest) {
      return error(new BatonError("IDEMPOTENCY_CONFLICT", "Idempotency-Key was used with a different request"));
    }
    return { status: found.status, body: found.body };
  }
}

/** Compiled workflow versions kept per isolate, most recently used last. Bounded: every delegation is a version of its own. */
const COMPILED_CACHE_SIZE = 128;
const compiledCache = new Map<string, Promise<CompiledWorkflow>>();

/** A sequence runs under the definition stored at its start; compiled once per isolate while in use, keyed by its hash. */
function compiledWorkflow(hash: string, definition: string): Promise<CompiledWorkflow> {
  let found = compiledCache.get(hash);
  if (found) {
    compiledCache.delete(hash);
  } else {
    found = compileWorkflow(JSON.parse(definition)).then((compiled) => {
      if (compiled.hash !== hash) throw new Error("workflow definition does not match its hash");
      return compiled;
    });
    // A failed compilation is not kept: the next call reports it afresh.
    found.catch(() => compiledCache.get(hash) === found && compiledCache.delete(hash));
  }
  compiledCache.set(hash, found);
  if (compiledCache.size > COMPILED_CACHE_SIZE) compiledCache.delete(compiledCache.keys().next().value as string);
  return found;
}

function presentedNonce(request: LedgerRequest): string | null {
  if (request.kind === "redeem" || request.kind === "delegate") return request.token.jti;
  if (request.kind === "evidence" && request.attestation.ok) return request.attestation.claims.jti;
  if (request.kind === "approval" && request.approval.ok) return request.approval.claims.jti;
  if (request.kind === "outcome") return request.redeemed.hash;
  return null;
}

function idempotencyKey(caller: Caller, key: string): string {
  return `${caller.id}\u0000${key}`;
}

function parse<T extends z.ZodType>(
  schema: T,
  raw: unknown,
): { ok: true; value: z.output<T> } | { ok: false; answer: LedgerAnswer } {
  const result = schema.safeParse(raw);
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, answer: error(new BatonError("INVALID_REQUEST", "ledger call is malformed", { details: result.error.issues })) };
}
