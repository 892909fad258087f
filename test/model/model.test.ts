/**
 * Model-based test (issue item 6): random histories of two sequences of the
 * `model` workflow (test/fixtures/workflows/model.json), driven through the real
 * Worker (workerd, real Durable Objects) and through the reference model
 * (./sequence-model.ts), asserting the same decision, code, HTTP status and
 * receipt for every step, the same state after every step, and, after each
 * history, the invariants of the receipt chains.
 *
 * Time is a fake clock (vi.useFakeTimers on Date only, which the Worker and its
 * Durable Objects share with the test in workerd): frozen during a history,
 * moved only by `tick` commands, so expiry, re-issue and staleness are exact.
 *
 * Sizes: 60 histories of at most 25 commands under `npm test`, from a fixed
 * seed, so that the run's coverage can be asserted (every stage reached, both
 * kinds of seal, every rule of the model but a few rare ones, at least once);
 * other sizes and seeds through ./vitest.config.ts, which reads them from
 * the environment:
 *   MODEL_RUNS=200 MODEL_COMMANDS=20 MODEL_SEED=$RANDOM npx vitest run -c test/model/vitest.config.ts
 * MODEL_SEED, MODEL_PATH and MODEL_REPLAY_PATH replay what fast-check printed on
 * a failure, with the shrunk history (a replay of one history asserts no coverage).
 */
import fc from "fast-check";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, inject, it, vi } from "vitest";
import devConfig from "../../examples/dev-config.json";
import { ChainChecker, type KeyLookup, verifyReceiptChain } from "../../src/audit/verify-chain.js";
import type { ReceiptClaims } from "../../src/tokens/receipt.js";
import quorumFixture from "../fixtures/approvers.json";
import definition from "../fixtures/workflows/model.json";
import { KEY, type ApiResult, api, attest, claimsOf, describe_, jwksLookup, receipts, redeem, signedApproval, submitApproval, submitEvidence } from "../helpers.js";
import * as M from "./sequence-model.js";

declare module "vitest" {
  interface ProvidedContext {
    /** Set by test/model/vitest.config.ts from MODEL_RUNS, MODEL_COMMANDS, MODEL_SEED, MODEL_PATH, MODEL_REPLAY_PATH, MODEL_STRICT. */
    model?: { runs?: number; commands?: number; seed?: number; path?: string; replayPath?: string; strict?: boolean };
  }
}
const SIZES = inject("model") ?? {};
const RUNS = SIZES.runs ?? 60;
const MAX_COMMANDS = SIZES.commands ?? 25;
/** The seed of `npm test`'s run: fixed, so its coverage is the same on every machine. */
const DEFAULT_SEED = 1_764_633_600;
const SEED = SIZES.seed ?? DEFAULT_SEED;
const PATH = SIZES.path;
const REPLAY_PATH = SIZES.replayPath;
/**
 * The reported, not yet fixed, disagreements of the Worker with the documents
 * (sequence-model.ts `KnownDeviations`; reproduced in known-deviations.test.ts):
 * the model follows the Worker there, so that it keeps checking everything else.
 * MODEL_STRICT=1 checks the documented behaviour instead. None is open today (the
 * early re-issue was fixed), so both modes check the same; the switch stays for
 * the next deviation, and the summary says which mode ran.
 */
const OPEN_DEVIATIONS: M.KnownDeviations = { earlyReissue: false };
const STRICT = SIZES.strict === true;
const DEVIATIONS: M.KnownDeviations = STRICT ? M.DOCUMENTED : OPEN_DEVIATIONS;

/**
 * Minimum coverage of a full run: the rules of the model (M.Step's `rule`) that
 * must each decide at least once. Every rule the model has is here, in RARE_RULES
 * or in UNREACHABLE_RULES.
 */
const REQUIRED_RULES = [
  "start",
  "redeem.use",
  "redeem.last-use-spends",
  "redeem.last-use-seals",
  "redeem.unverifiable",
  "redeem.audience",
  "redeem.expired",
  "redeem.stage-not-current",
  "redeem.spent",
  "redeem.not-granted",
  "redeem.granted-in-another-stage",
  "redeem.grant-used-up",
  "redeem.sealed",
  "evidence.opens-s1",
  "evidence.unverifiable",
  "evidence.another-sequence",
  "evidence.spent",
  "evidence.another-stage",
  "evidence.not-taken-by-gate",
  "evidence.stale",
  "evidence.sealed",
  "evidence.gate-rejected",
  "approval.opens-s2",
  "approval.waits-for-approvals",
  "approval.counts-once",
  "approval.reject",
  "approval.gate-rejected",
  "approval.unverifiable",
  "approval.another-sequence",
  "approval.another-stage",
  "approval.is-the-subject",
  "approval.issued-in-the-future",
  "approval.expired",
  "approval.digest",
  "approval.sealed",
  "approval.no-gate",
  "approval.gate-takes-no-approvals",
  "reissue.live",
  "reissue.live-but-spent",
  "reissue.mint",
  "reissue.no-uses-left",
  "reissue.not-the-actor",
  "reissue.sealed",
  "revoke.seal",
  "revoke.not-the-orchestrator",
  "revoke.sealed",
] as const;
/**
 * Rules a run of `npm test`'s size may miss (its default seed does): reached in
 * larger runs (MODEL_RUNS=150 MODEL_COMMANDS=30 reached all but one or two rare
 * rules, which ones depending on the seed). Not asserted; the summary names those a run missed.
 */
const RARE_RULES = ["evidence.no-gate", "approval.spent", "approval.not-in-group", "approval.waits-some-expired", "reissue.limit"] as const;
/**
 * The rules of the model that the `model` workflow cannot reach, and why:
 * - approval.before-attestations, evidence.waits-for-approvals, evidence.gate-still-waits:
 *   no gate mixes attestations and approvals, nor takes two attestations;
 * - redeem.superseded: a capability is re-issued only once the live one has expired
 *   (exp + skew), so a superseded token is refused as expired first;
 * - approval.is-the-orchestrator: this workflow lets the orchestrator approve
 *   (test/approvals.test.ts covers the rule against the Worker);
 * - redeem.another-sequence: the gate routes a token by its own signed seq.
 */
const UNREACHABLE_RULES = [
  "redeem.superseded",
  "approval.before-attestations",
  "evidence.waits-for-approvals",
  "evidence.gate-still-waits",
  "approval.is-the-orchestrator",
  "redeem.another-sequence",
] as const;

// ---------------------------------------------------------------- who is who (from the configuration files)

const ORCHESTRATOR = "orchestrator";
const ACTOR = "agent-7";
const SUBJECTS = ["user:alice", "q05"] as const; // seq 1's subject is an approver: separation of duties
const APPROVERS = ["q01", "q02", "q03", "q04", "q05", "sam"] as const;
type Approver = (typeof APPROVERS)[number];
const APPROVER_FACTS: Record<string, { groups: string[]; subject: string | null }> = Object.fromEntries([
  ...quorumFixture.approvers.map((a) => [a.approver, { groups: ["quorum"], subject: null }]),
  ...devConfig.approvers.map((a) => [a.id, { groups: a.groups, subject: a.subject ?? null }]),
]);
const TOOLS = { ci: KEY.ci, db: KEY.db, deployer: KEY.deployer, "review-bot": KEY.reviewBot } as const;
type Tool = keyof typeof TOOLS;
const ACTIONS = ["ci.run", "db.read", "deploy.apply", "db.migrate", "db.drop"] as const;

// ---------------------------------------------------------------- commands

type SeqIx = 0 | 1;
type StagePick = "current" | 0 | 1 | 2;
type Cmd =
  /** The live token of a sequence, with the tool and action of one of its current stage's grants. */
  | { t: "use"; seq: SeqIx; grant: number }
  /** The token the sequence had before its live one (superseded, or of the stage before), for the current stage's grant. */
  | { t: "usePrevious"; seq: SeqIx; grant: number }
  /** The next step a well-behaved party would take (valid attestation, a new approver's approval, the last use). */
  | { t: "progress"; seq: SeqIx }
  /** Any token obtained so far (either sequence, any stage, superseded ones too), any tool and action. */
  | { t: "redeem"; token: number; tool: Tool; action: (typeof ACTIONS)[number] }
  /** A token whose signature does not verify. */
  | { t: "forged"; token: number; tool: Tool }
  | {
      t: "attest";
      to: SeqIx;
      about: "same" | "other";
      stage: StagePick;
      issuer: "monitor" | "ci";
      type: "t1" | "t2";
      when: "now" | "old" | "future" | "expired";
      forged: boolean;
    }
  | { t: "replayAttestation"; pick: number; to: SeqIx }
  | {
      t: "approve";
      /** "gate": a sequence waiting for approvals, if there is one. */
      to: SeqIx | "gate";
      about: "same" | "other";
      stage: StagePick;
      approver: Approver;
      decision: "approve" | "reject";
      subject: "exact" | "params";
      when: "now" | "short" | "old" | "future" | "expired";
      forged: boolean;
    }
  | { t: "replayApproval"; pick: number; to: SeqIx }
  | { t: "reissue"; seq: SeqIx; caller: "agent" | "agent2" }
  | { t: "revoke"; seq: SeqIx; caller: "orchestrator" | "limited" }
  | { t: "tick"; seconds: number }
  /** An agent whose capability ran out: the clock moves past the live token's exp + skew, and the agent asks for a new one. */
  | { t: "renew"; seq: SeqIx }
  /** Moves the clock to just before, at or just after a deadline: a capability's exp, an approval's end, an attestation's max age. */
  | { t: "tickTo"; seq: SeqIx; deadline: "capability" | "approval" | "attestation"; offset: number };

const weighted = <T>(arbitrary: fc.Arbitrary<T>, weight: number) => ({ arbitrary, weight });
const mostly = <T, U>(usual: T, others: readonly U[], usualWeight = 6) =>
  fc.oneof(weighted(fc.constant(usual), usualWeight), weighted(fc.constantFrom(...others), 1));
const seqIx = fc.constantFrom<SeqIx>(0, 1);
const stagePick = mostly<StagePick, StagePick>("current", [0, 1, 2], 4);

const commandArb: fc.Arbitrary<Cmd> = fc.oneof(
  weighted(fc.record({ t: fc.constant("use" as const), seq: seqIx, grant: fc.nat(3) }), 8),
  weighted(fc.record({ t: fc.constant("usePrevious" as const), seq: seqIx, grant: fc.nat(3) }), 2),
  weighted(fc.record({ t: fc.constant("progress" as const), seq: seqIx }), 6),
  weighted(fc.record({ t: fc.constant("renew" as const), seq: seqIx }), 1),
  weighted(
    fc.record({ t: fc.constant("redeem" as const), token: fc.nat(), tool: fc.constantFrom<Tool>("ci", "db", "deployer", "review-bot"), action: fc.constantFrom(...ACTIONS) }),
    4,
  ),
  weighted(fc.record({ t: fc.constant("forged" as const), token: fc.nat(), tool: fc.constantFrom<Tool>("ci", "db", "deployer") }), 1),
  weighted(
    fc.record({
      t: fc.constant("attest" as const),
      to: seqIx,
      about: mostly("same" as const, ["other" as const]),
      stage: stagePick,
      issuer: mostly("monitor" as const, ["ci" as const]),
      type: mostly("t1" as const, ["t2" as const]),
      when: mostly("now" as const, ["old", "future", "expired"] as const, 8),
      forged: mostly(false, [true], 12),
    }),
    5,
  ),
  weighted(fc.record({ t: fc.constant("replayAttestation" as const), pick: fc.nat(), to: seqIx }), 1),
  weighted(
    fc.record({
      t: fc.constant("approve" as const),
      to: fc.oneof(weighted(seqIx, 1), weighted(fc.constant("gate" as const), 2)),
      about: mostly("same" as const, ["other" as const]),
      stage: stagePick,
      approver: mostly<Approver, Approver>("q01", ["q02", "q03", "q04", "q05", "q02", "q03", "sam"], 2),
      decision: mostly("approve" as const, ["reject" as const], 8),
      subject: mostly("exact" as const, ["params" as const], 10),
      when: mostly("now" as const, ["short", "old", "future", "expired"] as const, 8),
      forged: mostly(false, [true], 12),
    }),
    7,
  ),
  weighted(fc.record({ t: fc.constant("replayApproval" as const), pick: fc.nat(), to: seqIx }), 1),
  weighted(fc.record({ t: fc.constant("reissue" as const), seq: seqIx, caller: mostly("agent" as const, ["agent2" as const]) }), 4),
  weighted(fc.record({ t: fc.constant("revoke" as const), seq: seqIx, caller: mostly("orchestrator" as const, ["limited" as const], 3) }), 1),
  // Small and large steps, so that sums land on and around every boundary (TTL ± skew, max ages).
  weighted(fc.record({ t: fc.constant("tick" as const), seconds: fc.constantFrom(1, 4, 5, 95, 100, 195, 295, 400) }), 3),
  weighted(
    fc.record({
      t: fc.constant("tickTo" as const),
      seq: seqIx,
      deadline: fc.constantFrom("capability" as const, "approval" as const, "attestation" as const),
      offset: fc.integer({ min: -6, max: 6 }),
    }),
    3,
  ),
);

// ---------------------------------------------------------------- the world of one history

interface SeqWorld {
  ix: SeqIx;
  id: string;
  params: Record<string, unknown>;
  model: M.ModelSequence;
  /** The last capability the Worker handed out for it (the live one, if the model agrees). */
  live: string;
  /** Stage indexes seen by GET after every step. */
  stages: number[];
  /** Once an answer or GET showed it sealed. */
  sealedSeen: boolean;
}
interface PoolToken {
  token: string;
  facts: M.TokenFacts;
}
interface PoolEvidence<F> {
  jws: string;
  facts: F | null;
}
interface World {
  seqs: [SeqWorld, SeqWorld];
  tokens: PoolToken[];
  attestations: PoolEvidence<M.AttestationFacts>[];
  approvals: PoolEvidence<M.ApprovalFacts>[];
  now: number;
  trace: string[];
}

let wf: M.ModelWorkflow;
let keys: KeyLookup;
/** The fake clock: frozen within a step, far from the real one (so the Worker's analysis alarms never fire). */
let clock = Date.UTC(2031, 0, 1);
const stats = {
  histories: 0,
  steps: 0,
  probes: 0,
  receipts: 0,
  outcomes: new Map<string, number>(),
  ends: new Map<string, number>(),
  /** How many sequences had each stage as their current one at some point. */
  reached: new Map<string, number>(),
  started: 0,
};

const count = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);

class Discrepancy extends Error {
  override name = "Discrepancy";
}

function tokenFacts(token: string): M.TokenFacts {
  const c = decodeJwt(token) as Record<string, any>;
  return { seq: c.seq, workflow: c.workflow, stage: c.stage, jti: c.jti, aud: c.aud, exp: c.exp, nbf: c.nbf };
}

async function sha256(text: string): Promise<string> {
  const bytes = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Changes one character in the middle of the signature: the JWS no longer verifies. */
function forge(jws: string): string {
  const i = jws.length - 20;
  return `${jws.slice(0, i)}${jws[i] === "A" ? "B" : "A"}${jws.slice(i + 1)}`;
}

function stageId(s: SeqWorld, pick: StagePick): string {
  const index = pick === "current" ? s.model.stage : pick;
  return wf.stages[index]?.id ?? "?";
}

interface Observed {
  decision: string;
  code: string | null;
  status: number;
  receipted: boolean;
  sealed: boolean;
  capability: string | null;
  stage: string | null;
}

function observed(result: ApiResult): Observed {
  const body = result.body as Record<string, any>;
  const error = body.error as Record<string, any> | undefined;
  return {
    decision: body.decision ?? (error ? "DENY" : "?"),
    code: body.code ?? error?.code ?? null,
    status: result.status,
    receipted: Boolean(body.receipt ?? error?.receipt),
    sealed: error ? false : body.sealed === true,
    capability: body.capability ?? null,
    stage: body.stage ?? null,
  };
}

const show = (o: M.ModelOutcome) =>
  `${o.decision}${o.code ? ` ${o.code}` : ""} ${o.status}${o.receipted ? " receipted" : " unreceipted"}${o.sealed ? " sealed" : ""}${o.mint ? ` mint ${o.mint.stage}` : ""}${o.live ? " live" : ""}`;
const showObserved = (o: Observed) =>
  `${o.decision}${o.code ? ` ${o.code}` : ""} ${o.status}${o.receipted ? " receipted" : " unreceipted"}${o.sealed ? " sealed" : ""}${o.capability ? ` capability(${o.stage ?? "live?"})` : ""}`;

function fail(w: World, message: string): never {
  throw new Discrepancy(`${message}\n  history so far:\n    ${w.trace.join("\n    ")}`);
}

/**
 * One request, through the model and through the Worker: the same decision,
 * code, status, receipt, seal and capability, then the same state.
 */
async function exercise(
  w: World,
  label: string,
  target: SeqWorld | null,
  request: M.ModelRequest | null,
  call: () => Promise<ApiResult>,
): Promise<void> {
  const expected: M.Step | null = target && request ? M.step(wf, target.model, request, w.now) : null;
  const outcome = expected ? expected.outcome : M.unverifiableCapability();
  const result = await call();
  const got = observed(result);
  w.trace.push(`${label} → ${showObserved(got)}`);
  count(stats.outcomes, outcome.rule);
  const where = `${label}: model says ${show(outcome)}, Baton says ${showObserved(got)}`;
  // Sealed stays sealed, whatever the model says.
  if (target?.sealedSeen && got.code !== "SEALED_SEQUENCE" && got.code !== "FORBIDDEN") fail(w, `sealed sequence answered: ${where}`);
  if (target?.sealedSeen && got.receipted) fail(w, `a refusal after the seal was receipted: ${where}`);
  if (got.decision !== outcome.decision || got.code !== outcome.code) fail(w, `decision differs — ${where}`);
  if (got.status !== outcome.status) fail(w, `HTTP status differs — ${where}`);
  if (got.receipted !== outcome.receipted) fail(w, `receipt differs — ${where}`);
  if (got.sealed !== outcome.sealed) fail(w, `seal differs — ${where}`);
  if (outcome.mint) {
    if (!got.capability || !target || !expected) fail(w, `no capability minted — ${where}`);
    const facts = tokenFacts(got.capability);
    if (facts.stage !== outcome.mint.stage || facts.exp !== outcome.mint.exp || facts.seq !== target.id || got.stage !== outcome.mint.stage) {
      fail(w, `minted capability differs (stage ${facts.stage}, exp ${facts.exp}; expected ${outcome.mint.stage}, ${outcome.mint.exp}) — ${where}`);
    }
    target.model = M.bindMinted(expected.next, facts.jti);
    target.live = got.capability;
    w.tokens.push({ token: got.capability, facts });
  } else if (outcome.live) {
    if (!target || got.capability !== target.live) fail(w, `the live capability was not handed back unchanged — ${where}`);
  } else if (got.capability) {
    fail(w, `unexpected capability — ${where}`);
  }
  if (expected && target && !outcome.mint) target.model = expected.next;
  if (got.sealed && target) target.sealedSeen = true;
  if (target) await checkState(w, target, label);
}

/** GET /v1/sequences/:id against the model; the stage index only moves forward, one at a time. */
async function checkState(w: World, s: SeqWorld, label: string): Promise<void> {
  const { body, status } = await describe_(s.id);
  if (status !== 200) fail(w, `GET ${s.id} answered ${status}`);
  const model = M.observe(wf, s.model, w.now);
  const approvals = body.next_gate?.approvals;
  const seen = {
    stage: body.stage.index,
    status: body.status,
    sealReason: body.seal_reason,
    uses: body.uses.map((u: { used: number }) => u.used),
    capability: body.capability && { jti: body.capability.jti, exp: body.capability.exp, reissues: body.capability.reissues },
    approvals: approvals
      ? {
          remaining: approvals.remaining,
          approvedBy: approvals.approved_by.map((a: { approver: string }) => a.approver).sort(),
          rejectedBy: approvals.rejected?.approver ?? null,
        }
      : null,
  };
  if (M.canonical(seen) !== M.canonical(model)) {
    fail(w, `state of seq ${s.ix} after ${label} differs:\n    model ${M.canonical(model)}\n    Baton ${M.canonical(seen)}`);
  }
  const previous = s.stages.at(-1) ?? 0;
  if (seen.stage !== previous && seen.stage !== previous + 1) fail(w, `stage of seq ${s.ix} went from ${previous} to ${seen.stage}`);
  s.stages.push(seen.stage);
  if (s.sealedSeen && seen.status !== "sealed") fail(w, `seq ${s.ix} was sealed and is ${seen.status} now`);
  if (seen.status === "sealed") s.sealedSeen = true;
}

async function startSequence(w: World, ix: SeqIx, history: number): Promise<SeqWorld> {
  const params = { ticket: `M-${history}-${ix}` };
  const subject = SUBJECTS[ix];
  const result = await api("POST", "/v1/sequences", { key: KEY.orchestrator, body: { workflow: "model", params, subject, actor: ACTOR } });
  if (result.status !== 201) throw new Error(`start failed: ${result.status} ${JSON.stringify(result.body)}`);
  const token = result.body.capability as string;
  const facts = tokenFacts(token);
  const started = M.startSequence(wf, { seq: result.body.sequence, params, subject, actor: ACTOR, orchestrator: ORCHESTRATOR }, w.now);
  const mint = started.outcome.mint;
  if (!mint || facts.stage !== mint.stage || facts.exp !== mint.exp) throw new Discrepancy(`start: minted ${facts.stage}/${facts.exp}, model ${JSON.stringify(mint)}`);
  const s: SeqWorld = { ix, id: result.body.sequence, params, model: M.bindMinted(started.next, facts.jti), live: token, stages: [], sealedSeen: false };
  w.tokens.push({ token, facts });
  w.trace.push(`start seq ${ix} (subject ${subject}) → ALLOW 201`);
  count(stats.outcomes, started.outcome.rule);
  await checkState(w, s, "start");
  return s;
}

async function attestation(w: World, cmd: Extract<Cmd, { t: "attest" }>): Promise<PoolEvidence<M.AttestationFacts>> {
  const target = w.seqs[cmd.to];
  const bound = cmd.about === "same" ? target : w.seqs[cmd.to === 0 ? 1 : 0];
  const t = Math.floor(w.now / 1000);
  const iat = cmd.when === "old" ? t - 700 : cmd.when === "future" ? t + 60 : t;
  const exp = cmd.when === "expired" ? t - 10 : undefined;
  const jti = crypto.randomUUID();
  const stage = stageId(bound, cmd.stage);
  const signed = await attest({ attester: cmd.issuer, seq: bound.id, stage, type: cmd.type, iat, jti, claims: exp === undefined ? {} : { exp } });
  const jws = cmd.forged ? forge(signed) : signed;
  const facts: M.AttestationFacts = { iss: cmd.issuer, seq: bound.id, stage, type: cmd.type, iat, jti, digest: await sha256(jws) };
  if (exp !== undefined) facts.exp = exp;
  return { jws, facts: cmd.forged ? null : facts };
}

/** The sequence an approval goes to: "gate" picks one whose gate waits for approvals (the first), else seq 0. */
function approvalTarget(w: World, to: SeqIx | "gate"): SeqIx {
  if (to !== "gate") return to;
  return w.seqs.find((s) => s.model.status === "active" && wf.stages[s.model.stage + 1]?.gate?.approvals)?.ix ?? 0;
}

async function approvalOf(w: World, cmd: Extract<Cmd, { t: "approve" }> & { to: SeqIx }): Promise<PoolEvidence<M.ApprovalFacts>> {
  const target = w.seqs[cmd.to];
  const bound = cmd.about === "same" ? target : w.seqs[cmd.to === 0 ? 1 : 0];
  const index = cmd.stage === "current" ? bound.model.stage : cmd.stage;
  const subject: M.ApprovalSubject = {
    seq: bound.id,
    workflow: wf.hash,
    stage: wf.stages[index]?.id ?? "?",
    opens: wf.stages[index + 1]?.id ?? null,
    params: cmd.subject === "exact" ? bound.params : { ...bound.params, ticket: "another" },
    // The pending gate's attestations (none in the approvals-only gate of this workflow).
    evidence: index === bound.model.stage ? bound.model.evidence.map((e) => e.item) : [],
  };
  const t = Math.floor(w.now / 1000);
  const iat = cmd.when === "old" ? t - 1000 : cmd.when === "future" ? t + 60 : t;
  const exp = cmd.when === "short" ? t + 150 : cmd.when === "expired" ? t - 10 : undefined;
  const jti = crypto.randomUUID();
  const signed = await signedApproval(bound.id, cmd.approver, { subject, decision: cmd.decision, iat, exp, jti });
  const who = APPROVER_FACTS[cmd.approver];
  if (!who) throw new Error(`unknown approver ${cmd.approver}`);
  const facts: M.ApprovalFacts = {
    approver: cmd.approver,
    groups: who.groups,
    approverSubject: who.subject,
    seq: subject.seq,
    stage: subject.stage,
    decision: cmd.decision,
    subject,
    iat,
    jti,
  };
  if (exp !== undefined) facts.exp = exp;
  return { jws: cmd.forged ? forge(signed) : signed, facts: cmd.forged ? null : facts };
}

function bySeq(w: World, seq: string): SeqWorld {
  const found = w.seqs.find((s) => s.id === seq);
  if (!found) throw new Error(`no sequence ${seq} in this history`);
  return found;
}

async function run(w: World, cmd: Cmd): Promise<void> {
  switch (cmd.t) {
    case "use": {
      const s = w.seqs[cmd.seq];
      const grants = wf.stages[s.model.stage]?.grants ?? [];
      const grant = grants[cmd.grant % grants.length];
      if (!grant) throw new Error("no grant");
      const action = grant.actions[0] ?? "";
      const token = tokenFacts(s.live);
      const label = `use seq ${cmd.seq}: live ${token.stage} token, ${grant.tool} ${action}`;
      return exercise(w, label, s, { kind: "redeem", token, tool: grant.tool, action }, () => redeem(TOOLS[grant.tool as Tool], s.live, action));
    }
    case "usePrevious": {
      const s = w.seqs[cmd.seq];
      const previous = w.tokens.filter((t) => t.facts.seq === s.id && t.token !== s.live).at(-1);
      if (!previous) return run(w, { t: "use", seq: cmd.seq, grant: cmd.grant });
      const grants = wf.stages[s.model.stage]?.grants ?? [];
      const grant = grants[cmd.grant % grants.length];
      if (!grant) throw new Error("no grant");
      const action = grant.actions[0] ?? "";
      const label = `usePrevious seq ${cmd.seq}: previous ${previous.facts.stage} token, ${grant.tool} ${action}`;
      const request: M.ModelRequest = { kind: "redeem", token: previous.facts, tool: grant.tool, action };
      return exercise(w, label, s, request, () => redeem(TOOLS[grant.tool as Tool], previous.token, action));
    }
    case "progress": {
      // Chosen from the model's state (an input, never an expected answer).
      const s = w.seqs[cmd.seq];
      const base = { to: cmd.seq, about: "same", stage: "current", when: "now", forged: false } as const;
      if (s.model.stage === 0) return run(w, { t: "attest", ...base, issuer: "monitor", type: "t1" });
      if (s.model.stage === 1) {
        const counted = new Set(M.counting(wf, s.model, w.now).map((a) => a.approver));
        const approver = (["q01", "q02", "q03", "q04"] as const).find((a) => !counted.has(a)) ?? "q04";
        return run(w, { t: "approve", ...base, approver, decision: "approve", subject: "exact" });
      }
      return run(w, { t: "use", seq: cmd.seq, grant: 0 });
    }
    case "redeem": {
      const picked = w.tokens[cmd.token % w.tokens.length];
      if (!picked) throw new Error("empty token pool");
      const s = bySeq(w, picked.facts.seq);
      const live = picked.token === s.live ? "live" : "old";
      const label = `redeem with seq ${s.ix}'s ${live} ${picked.facts.stage} token #${cmd.token % w.tokens.length}, ${cmd.tool} ${cmd.action}`;
      const request: M.ModelRequest = { kind: "redeem", token: picked.facts, tool: cmd.tool, action: cmd.action };
      return exercise(w, label, s, request, () => redeem(TOOLS[cmd.tool], picked.token, cmd.action));
    }
    case "forged": {
      const picked = w.tokens[cmd.token % w.tokens.length];
      if (!picked) throw new Error("empty token pool");
      const label = `forged copy of a ${picked.facts.stage} token, ${cmd.tool}`;
      return exercise(w, label, null, null, () => redeem(TOOLS[cmd.tool], forge(picked.token), "ci.run"));
    }
    case "attest": {
      const target = w.seqs[cmd.to];
      const made = await attestation(w, cmd);
      w.attestations.push(made);
      const label = `attest to seq ${cmd.to}: ${cmd.issuer} ${cmd.type} for ${cmd.about === "same" ? "it" : "the other seq"} stage ${stageId(
        cmd.about === "same" ? target : w.seqs[cmd.to === 0 ? 1 : 0],
        cmd.stage,
      )}, ${cmd.when}${cmd.forged ? ", forged" : ""}`;
      return exercise(w, label, target, { kind: "evidence", attestation: made.facts }, () => submitEvidence(target.id, made.jws));
    }
    case "replayAttestation": {
      const target = w.seqs[cmd.to];
      const picked = w.attestations[cmd.pick % Math.max(1, w.attestations.length)];
      if (!picked) return;
      const label = `replay-attestation #${cmd.pick % w.attestations.length} (${picked.facts ? `${picked.facts.type} for ${bySeq(w, picked.facts.seq).ix}/${picked.facts.stage}` : "forged"}) to seq ${cmd.to}`;
      return exercise(w, label, target, { kind: "evidence", attestation: picked.facts }, () => submitEvidence(target.id, picked.jws));
    }
    case "approve": {
      const to = approvalTarget(w, cmd.to);
      const target = w.seqs[to];
      const made = await approvalOf(w, { ...cmd, to });
      w.approvals.push(made);
      const label = `approval to seq ${to}: ${cmd.approver} ${cmd.decision} for ${cmd.about === "same" ? "it" : "the other seq"} stage ${
        made.facts?.stage ?? stageId(target, cmd.stage)
      }, subject ${cmd.subject}, ${cmd.when}${cmd.forged ? ", forged" : ""}`;
      return exercise(w, label, target, { kind: "approval", approval: made.facts }, () => submitApproval(target.id, made.jws));
    }
    case "replayApproval": {
      const target = w.seqs[cmd.to];
      const picked = w.approvals[cmd.pick % Math.max(1, w.approvals.length)];
      if (!picked) return;
      const label = `replay-approval #${cmd.pick % w.approvals.length} (${picked.facts ? `${picked.facts.approver} ${picked.facts.decision} for ${bySeq(w, picked.facts.seq).ix}` : "forged"}) to seq ${cmd.to}`;
      return exercise(w, label, target, { kind: "approval", approval: picked.facts }, () => submitApproval(target.id, picked.jws));
    }
    case "reissue": {
      const s = w.seqs[cmd.seq];
      const caller = cmd.caller === "agent" ? ACTOR : "agent-2";
      return exercise(w, `reissue seq ${cmd.seq} as ${caller}`, s, { kind: "reissue", caller }, () =>
        api("POST", `/v1/sequences/${s.id}/capability`, { key: cmd.caller === "agent" ? KEY.agent : KEY.agent2 }),
      );
    }
    case "revoke": {
      const s = w.seqs[cmd.seq];
      const caller = cmd.caller === "orchestrator" ? ORCHESTRATOR : "limited-orchestrator";
      return exercise(w, `revoke seq ${cmd.seq} as ${caller}`, s, { kind: "revoke", caller }, () =>
        api("POST", `/v1/sequences/${s.id}/revoke`, {
          key: cmd.caller === "orchestrator" ? KEY.orchestrator : KEY.limitedOrchestrator,
          body: { reason: "model test" },
        }),
      );
    }
    case "renew": {
      const s = w.seqs[cmd.seq];
      const exp = s.model.live?.exp;
      if (exp !== undefined) {
        const by = Math.max(1, exp + wf.skew + 1 - Math.floor(w.now / 1000));
        advance(w, by, `tick +${by}s (past seq ${cmd.seq}'s capability expiry)`);
      }
      return run(w, { t: "reissue", seq: cmd.seq, caller: "agent" });
    }
    case "tick":
      return advance(w, cmd.seconds, `tick +${cmd.seconds}s`);
    case "tickTo": {
      // The deadline is read from the model's state and the pools (an input, never an expected answer).
      const s = w.seqs[cmd.seq];
      const maxAge = wf.stages[1]?.gate?.attestations[0]?.maxAge ?? 0;
      const deadlines = {
        capability: s.model.live?.exp,
        approval: s.model.approvals.map((a) => a.expiresAt).sort((a, b) => a - b)[0],
        attestation: w.attestations.flatMap((a) => (a.facts ? [a.facts.iat + maxAge] : [])).at(-1),
      };
      const at = deadlines[cmd.deadline];
      const by = at === undefined ? 1 : Math.max(1, at + cmd.offset - Math.floor(w.now / 1000));
      return advance(w, by, `tick +${by}s (to ${cmd.deadline} deadline ${cmd.offset >= 0 ? "+" : ""}${cmd.offset})`);
    }
  }
}

function advance(w: World, seconds: number, label: string): void {
  w.now += seconds * 1000;
  clock = w.now;
  vi.setSystemTime(w.now);
  w.trace.push(label);
}

/** After the seal every kind of request is refused with SEALED_SEQUENCE and nothing is receipted. */
async function probeSealed(w: World, s: SeqWorld): Promise<void> {
  const probes: Cmd[] = [
    { t: "use", seq: s.ix, grant: 0 },
    { t: "attest", to: s.ix, about: "same", stage: "current", issuer: "monitor", type: "t1", when: "now", forged: false },
    { t: "approve", to: s.ix, about: "same", stage: "current", approver: "q04", decision: "approve", subject: "exact", when: "now", forged: false },
    { t: "approve", to: s.ix, about: "same", stage: "current", approver: "q03", decision: "reject", subject: "exact", when: "now", forged: false },
    { t: "reissue", seq: s.ix, caller: "agent" },
    { t: "revoke", seq: s.ix, caller: "orchestrator" },
  ];
  for (const probe of probes) {
    await run(w, probe);
    stats.probes++;
  }
}

/** The chain of a sequence: it verifies, matches the model receipt for receipt, and keeps the invariants. */
async function checkChain(w: World, s: SeqWorld): Promise<void> {
  const chain = await receipts(s.id);
  const verdict = await verifyReceiptChain(chain, keys);
  if (!verdict.ok) fail(w, `seq ${s.ix}: receipt chain does not verify: ${verdict.reason}`);
  if (verdict.sealed !== (s.model.status === "sealed")) fail(w, `seq ${s.ix}: chain sealed=${verdict.sealed}, model ${s.model.status}`);
  // The signed head of GET /v1/sequences/:id names the same last receipt (no tail lost).
  const checker = new ChainChecker(keys);
  for (const jws of chain) await checker.push(jws);
  const head = await checker.checkHead((await describe_(s.id)).body.signed_head);
  if (head) fail(w, `seq ${s.ix}: ${head}`);
  const claims = chain.map(claimsOf);
  stats.receipts += claims.length;
  const expected = s.model.receipts;
  const brief = (r: { kind: string; stage: string; decision: string; code: string | null }) => `${r.kind}@${r.stage} ${r.decision}${r.code ? ` ${r.code}` : ""}`;
  if (claims.length !== expected.length) {
    fail(w, `seq ${s.ix}: ${claims.length} receipts, model expects ${expected.length}:\n    Baton ${claims.map(brief).join(", ")}\n    model ${expected.map(brief).join(", ")}`);
  }
  claims.forEach((r, n) => {
    const m = expected[n] as M.ModelReceipt;
    const effects = r.effects as { type: string; kind?: string; jti?: string; stage?: number; reason?: string }[];
    const spends = effects.filter((e) => e.type === "spend").map((e) => `${e.kind}:${e.jti}`);
    const advance = effects.find((e) => e.type === "advance")?.stage ?? null;
    const seal = effects.find((e) => e.type === "seal")?.reason ?? null;
    const same =
      brief(r) === brief(m) &&
      M.canonical(spends) === M.canonical(m.spends.map((x) => `${x.kind}:${x.jti}`)) &&
      advance === m.advance &&
      seal === m.seal &&
      (r.minted !== null) === m.mint;
    if (!same) {
      fail(w, `seq ${s.ix}: receipt ${n} is ${brief(r)} ${JSON.stringify(effects)} minted=${r.minted !== null}; model expects ${brief(m)} ${JSON.stringify(m)}`);
    }
  });
  const broken = chainInvariants(claims);
  if (broken) fail(w, `seq ${s.ix}: ${broken}`);
}

/**
 * Invariants read from the receipts alone (no model): one stage open at a time,
 * advancing one stage at a time; only the live capability of the current stage
 * is ever allowed, at most its stage's uses; every nonce spent at most once; an
 * attestation or approval jti accepted at most once; denials change nothing
 * (but a rejection); nothing after the seal.
 */
function chainInvariants(claims: ReceiptClaims[]): string | null {
  const spent = new Set<string>();
  const accepted = new Set<string>();
  const allowedUses = new Map<string, number>();
  let stage = 0;
  let live: string | null = null;
  let sealed = false;
  for (const r of claims) {
    const effects = r.effects as { type: string; kind?: string; jti?: string; stage?: number }[];
    if (sealed) return `receipt ${r.n} follows the seal`;
    if (r.stage !== wf.stages[stage]?.id) return `receipt ${r.n} is for stage ${r.stage} while ${wf.stages[stage]?.id} is open`;
    if (r.decision === "DENY") {
      const rejection = r.code === "APPROVAL_DENIED" && r.kind === "approval" && effects.length > 0;
      const shape = effects.map((e) => (e.type === "spend" ? `spend:${e.kind}` : e.type)).join(",");
      if (effects.length > 0 && !(rejection && shape === "spend:approval,reject_gate")) return `denial ${r.n} (${r.code}) has effects ${shape}`;
    }
    if (r.kind === "redeem" && r.decision === "ALLOW") {
      const token = (r.inputs as unknown as { token: { jti: string; stage: string } }).token;
      if (token.stage !== r.stage) return `receipt ${r.n} allowed a ${token.stage} token in stage ${r.stage}`;
      if (token.jti !== live) return `receipt ${r.n} allowed capability ${token.jti}, not the live one ${live}`;
      if (spent.has(`capability:${token.jti}`)) return `receipt ${r.n} allowed spent capability ${token.jti}`;
      const uses = (allowedUses.get(token.jti) ?? 0) + 1;
      allowedUses.set(token.jti, uses);
      const total = (wf.stages[stage]?.grants ?? []).reduce((sum, g) => sum + g.uses, 0);
      if (uses > total) return `capability ${token.jti} allowed ${uses} times; its stage has ${total} uses`;
    }
    if ((r.kind === "evidence" || r.kind === "approval") && effects.some((e) => e.type === "accept_evidence" || e.type === "accept_approval")) {
      const key = `${r.kind}:${r.nonce}`;
      if (accepted.has(key)) return `${r.kind} jti ${r.nonce} accepted twice (receipt ${r.n})`;
      accepted.add(key);
    }
    for (const e of effects) {
      if (e.type === "spend") {
        const key = `${e.kind}:${e.jti}`;
        if (spent.has(key)) return `nonce ${key} spent twice (receipt ${r.n})`;
        spent.add(key);
      }
      if (e.type === "advance") {
        if (e.stage !== stage + 1) return `receipt ${r.n} advances from stage ${stage} to ${e.stage}`;
        stage = e.stage;
      }
      if (e.type === "seal") sealed = true;
    }
    if (r.minted) {
      if (r.minted.stage !== wf.stages[stage]?.id) return `receipt ${r.n} minted a ${r.minted.stage} capability while ${wf.stages[stage]?.id} is open`;
      live = r.minted.jti;
    }
  }
  return null;
}

/** One command of a history, as fast-check's model-based testing runs it (the world holds both the model and the Worker's answers). */
class Command implements fc.AsyncCommand<World, World> {
  constructor(readonly cmd: Cmd) {}
  check(): boolean {
    return true;
  }
  async run(_model: World, w: World): Promise<void> {
    await run(w, this.cmd);
    stats.steps++;
  }
  toString(): string {
    return JSON.stringify(this.cmd);
  }
}

async function history(commands: Iterable<fc.AsyncCommand<World, World>>): Promise<void> {
  const number = ++stats.started;
  clock += 100_000_000; // a fresh stretch of fake time for every history
  vi.setSystemTime(clock);
  const w = { tokens: [], attestations: [], approvals: [], now: clock, trace: [] } as unknown as World;
  w.seqs = [await startSequence(w, 0, number), await startSequence(w, 1, number)];
  await fc.asyncModelRun(() => ({ model: w, real: w }), commands);
  for (const s of w.seqs) if (s.model.status === "sealed") await probeSealed(w, s);
  for (const s of w.seqs) await checkChain(w, s);
  stats.histories++;
  for (const s of w.seqs) {
    count(stats.ends, s.model.status === "sealed" ? `sealed (${s.model.sealReason}) at ${wf.stages[s.model.stage]?.id}` : `active at ${wf.stages[s.model.stage]?.id}`);
    for (const index of new Set(s.stages)) count(stats.reached, wf.stages[index]?.id ?? "?");
  }
}

describe("reference model: random histories through the Worker and the model", () => {
  beforeAll(async () => {
    const published = await api("GET", "/v1/workflows/model", { key: KEY.auditor });
    expect(published.status).toBe(200);
    wf = M.workflowFromDefinition(definition, published.body.hash, DEVIATIONS);
    keys = await jwksLookup();
    // The first request of the file pays for module loading inside workerd (slow on a loaded machine).
  }, 60_000);

  afterAll(() => {
    vi.useRealTimers();
    const outcomes = [...stats.outcomes.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `    ${String(v).padStart(6)}  ${k}`);
    const ends = [...stats.ends.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `    ${String(v).padStart(6)}  ${k}`);
    console.log(
      [
        `model: ${stats.histories} histories checked (${stats.started} run, shrinking included), ${stats.steps} steps checked, ${stats.probes} sealed probes, ${stats.receipts} receipts compared (seed ${SEED}, ${STRICT ? "strict: the documented behaviour" : "known open deviations: none"})`,
        "  rules of the model that decided (how often):",
        ...outcomes,
        "  sequences ended:",
        ...ends,
        `  rare rules not reached: ${RARE_RULES.filter((rule) => ![...stats.outcomes.keys()].some((k) => k.startsWith(rule))).join(", ") || "none"}`,
        "  stages reached (sequences):",
        ...[...stats.reached.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `    ${String(v).padStart(6)}  ${k}`),
      ].join("\n"),
    );
  });

  it(
    `agrees with the Worker on every step (${RUNS} histories of ≤ ${MAX_COMMANDS} commands)`,
    async () => {
      vi.useFakeTimers({ toFake: ["Date"] });
      try {
        await fc.assert(
          fc.asyncProperty(
            fc.commands(
              [commandArb.map((cmd) => new Command(cmd))],
              { maxCommands: MAX_COMMANDS, size: "max", ...(REPLAY_PATH === undefined ? {} : { replayPath: REPLAY_PATH }) },
            ),
            (commands) => history(commands),
          ),
          { numRuns: RUNS, ...(SEED === undefined ? {} : { seed: SEED }), ...(PATH === undefined ? {} : { path: PATH }) },
        );
      } finally {
        vi.useRealTimers();
      }
    },
    Math.max(120_000, RUNS * 4_000),
  );

  // A property that passes having tried nothing proves nothing: the run above must have
  // reached every stage, sealed both ways and decided by every reachable rule.
  it.skipIf(PATH !== undefined || REPLAY_PATH !== undefined)(`covered every stage, both seals and each of ${REQUIRED_RULES.length} rules`, () => {
    expect(stats.histories).toBeGreaterThanOrEqual(RUNS);
    // Every stage was the current one of some sequence (GET after a step showed it).
    expect(Object.fromEntries(wf.stages.map((stage) => [stage.id, (stats.reached.get(stage.id) ?? 0) > 0]))).toEqual(
      Object.fromEntries(wf.stages.map((stage) => [stage.id, true])),
    );
    const ends = [...stats.ends.keys()];
    expect(ends.some((e) => e.startsWith("sealed (completed) at s2")), ends.join(", ")).toBe(true);
    expect(ends.some((e) => e.startsWith("sealed (revoked)")), ends.join(", ")).toBe(true);
    // A rule's suffix ("(replacing an expired one)", "[known deviation …]") is a variant of the rule.
    const hit = new Set([...stats.outcomes.keys()].map((rule) => rule.replace(/ [([].*$/, "")));
    expect(REQUIRED_RULES.filter((rule) => !hit.has(rule)), "rules that never decided").toEqual([]);
    // And no rule decided that the lists do not know: a new rule of the model is added to one of them.
    const known = new Set<string>([...REQUIRED_RULES, ...RARE_RULES, ...UNREACHABLE_RULES]);
    expect([...hit].filter((rule) => !known.has(rule)), "rules missing from REQUIRED_RULES").toEqual([]);
  });
});
