/**
 * A reference model of one Baton sequence: a small, pure state machine written
 * from the documented rules (README.md "How it works", "Decisions made where the
 * design was silent", "Reason codes"; ../shared/DESIGN.md), NOT from
 * src/policy — it imports nothing from src, so it can disagree with `decide()`.
 *
 * What it covers: stages and their grants' uses; one live capability per stage
 * (with re-issue when expired, within `max_reissues`, and the live token handed
 * back unchanged — not a decision — while it is valid); spent nonces per kind
 * (capability, attestation, approval jti); gates of attestations and of k-of-n
 * approvals (an approver counts once, expiry, a rejection shuts the gate for the
 * sequence); the seal (last use of the last stage, or revoke) and everything
 * after it; which answers are receipted.
 *
 * What it does not cover (the `model` workflow does not use them, and
 * `workflowFromDefinition` refuses a definition that does): CEL `where`,
 * cumulative sums, outcomes, signals, DPoP, delegation, idempotency,
 * `complete: attestations`.
 *
 * The ORDER of checks. Where the documents fix a precedence, the model follows
 * them (a seal before anything; authentication/authorization before the
 * sequence is looked at; an unverifiable capability is refused before any
 * sequence is named; approvals only after the gate's attestations). Where they
 * are silent, the model adopts one fixed order, the same one the Worker is
 * meant to have; every such choice is marked "ORDER:" below, so a discrepancy
 * there is a question of specification, not necessarily a bug.
 *
 * Where the Worker was found to disagree with the documents, the model keeps the
 * documented rule and names the Worker's behaviour as a `KnownDeviations` switch
 * (off by default; the test turns on the reported ones).
 *
 * Time is in milliseconds since the epoch (`now`), compared in seconds, with the
 * workflow's clock skew as documented ("Clock skew is a property of the workflow
 * version").
 */

export type Decision = "ALLOW" | "DENY" | "ESCALATE";

/** The reason codes this model can produce, with their HTTP status (README "Reason codes"). */
export const STATUS = {
  SEQUENCE_VIOLATION: 409,
  REPLAY_NONCE: 409,
  SEALED_SEQUENCE: 409,
  EVIDENCE_INVALID: 403,
  EVIDENCE_STALE: 403,
  SCOPE_EXCEEDED: 403,
  APPROVAL_REQUIRED: 202,
  APPROVAL_DENIED: 403,
  TOKEN_INVALID: 401,
  TOKEN_EXPIRED: 401,
  AUDIENCE_MISMATCH: 403,
  FORBIDDEN: 403,
} as const;
export type Code = keyof typeof STATUS;

// ---------------------------------------------------------------- workflow

export interface ModelGrant {
  tool: string;
  actions: readonly string[];
  uses: number;
}
export interface ModelAttestationRequirement {
  issuer: string;
  type: string;
  maxAge: number;
}
export interface ModelApprovalRequirement {
  group: string;
  count: number;
  excludeSubject: boolean;
  excludeOrchestrator: boolean;
  maxAge: number;
}
export interface ModelGate {
  attestations: readonly ModelAttestationRequirement[];
  approvals: ModelApprovalRequirement | null;
}
export interface ModelStage {
  id: string;
  ttl: number;
  maxReissues: number;
  grants: readonly ModelGrant[];
  /** The gate that opens this stage (none for the first). */
  gate: ModelGate | null;
}
/**
 * Where the Worker is known to disagree with the documents (see the report of
 * the model-based test). Each one is off in the documented model; the test turns
 * on those that are reported and not yet fixed, so that it keeps checking
 * everything else, and MODEL_STRICT=1 turns them off again to reproduce them.
 */
export interface KnownDeviations {
  /**
   * README: POST /v1/sequences/:id/capability "returns the current token while it is
   * valid; once expired it re-issues one". The gate honours a capability until
   * exp + skew; the Worker hands it back only while exp - skew > now, and re-issues
   * (a receipted decision that uses up one of max_reissues and supersedes the token
   * the gate would still honour) from exp - skew on: up to 2 × skew early.
   */
  earlyReissue: boolean;
}
export const DOCUMENTED: KnownDeviations = { earlyReissue: false };

export interface ModelWorkflow {
  id: string;
  /** The version hash (for the approval subject). */
  hash: string;
  skew: number;
  stages: readonly ModelStage[];
  deviations: KnownDeviations;
}

/**
 * Reads the subset of the workflow language the model covers. Every number the
 * model uses must be spelled out in the definition (no defaults are assumed),
 * and anything the model does not cover is refused rather than ignored.
 */
export function workflowFromDefinition(definition: unknown, hash: string, deviations: KnownDeviations = DOCUMENTED): ModelWorkflow {
  const d = definition as Record<string, any>;
  const need = <T>(value: T | undefined, path: string): T => {
    if (value === undefined) throw new Error(`model workflow: ${path} must be spelled out`);
    return value;
  };
  const refuse = (value: unknown, path: string) => {
    if (value !== undefined) throw new Error(`model workflow: ${path} is not covered by the model`);
  };
  refuse(d.sender_constrained, "sender_constrained");
  if (need(d.complete as { on?: string } | undefined, "complete").on !== "last_use") throw new Error("model workflow: only complete.on = last_use is covered");
  const stages = (d.stages as Record<string, any>[]).map((s, i): ModelStage => {
    const gate = s.gate as Record<string, any> | undefined;
    if (i === 0 && gate) throw new Error("model workflow: the first stage has no gate");
    if (i > 0 && !gate) throw new Error(`model workflow: stage ${i} needs a gate`);
    if (gate) {
      refuse(gate.outcomes, `stages[${i}].gate.outcomes`);
      refuse(gate.signals, `stages[${i}].gate.signals`);
    }
    return {
      id: s.id,
      ttl: need(s.ttl_seconds, `stages[${i}].ttl_seconds`) as number,
      maxReissues: need(s.max_reissues, `stages[${i}].max_reissues`) as number,
      grants: (s.grants as Record<string, any>[]).map((g, j) => {
        for (const field of ["where", "sum", "signals"]) refuse(g[field], `stages[${i}].grants[${j}].${field}`);
        if (g.audience === "baton") throw new Error("model workflow: delegation is not covered");
        return { tool: g.audience, actions: g.actions, uses: need(g.uses, `stages[${i}].grants[${j}].uses`) as number };
      }),
      gate: gate
        ? {
            attestations: ((gate.attestations ?? []) as Record<string, any>[]).map((a, j) => {
              refuse(a.where, `stages[${i}].gate.attestations[${j}].where`);
              return { issuer: a.issuer, type: a.type, maxAge: need(a.max_age_seconds, `stages[${i}].gate.attestations[${j}].max_age_seconds`) as number };
            }),
            approvals: gate.approvals
              ? {
                  group: gate.approvals.group,
                  count: gate.approvals.count,
                  excludeSubject: need(gate.approvals.exclude_subject, `stages[${i}].gate.approvals.exclude_subject`) as boolean,
                  excludeOrchestrator: need(gate.approvals.exclude_orchestrator, `stages[${i}].gate.approvals.exclude_orchestrator`) as boolean,
                  maxAge: need(gate.approvals.max_age_seconds, `stages[${i}].gate.approvals.max_age_seconds`) as number,
                }
              : null,
          }
        : null,
    };
  });
  return { id: d.id, hash, skew: need(d.clock_skew_seconds, "clock_skew_seconds") as number, stages, deviations };
}

// ---------------------------------------------------------------- state

/** Marks the jti of a capability the Worker has just minted, until the harness learns it. */
export const PENDING_JTI = "<minted>";

export interface LiveCapability {
  jti: string;
  stage: number;
  exp: number;
  reissues: number;
}

/** An evidence item as the approval subject names it (iss, type, jti, digest of the JWS). */
export interface EvidenceItem {
  iss: string;
  type: string;
  jti: string;
  digest: string;
}

/** Exactly what an approval approves (README: `{seq, workflow, stage, opens, params, evidence}`). */
export interface ApprovalSubject {
  seq: string;
  workflow: string;
  stage: string;
  opens: string | null;
  params: Record<string, unknown>;
  evidence: EvidenceItem[];
}

export type NonceKind = "capability" | "attestation" | "approval";

/** One receipt the model expects in the chain. */
export interface ModelReceipt {
  kind: "start" | "redeem" | "evidence" | "approval" | "reissue" | "revoke";
  stage: string;
  decision: Decision;
  code: Code | null;
  spends: { kind: NonceKind; jti: string }[];
  advance: number | null;
  seal: "completed" | "revoked" | null;
  mint: boolean;
}

export interface ModelSequence {
  seq: string;
  params: Record<string, unknown>;
  subject: string;
  actor: string;
  orchestrator: string;
  status: "active" | "sealed";
  sealReason: "completed" | "revoked" | null;
  stage: number;
  /** Uses of the current stage's grants. */
  uses: number[];
  /** The one capability of the current stage the gate honours. */
  live: LiveCapability | null;
  /** Attestations accepted towards the pending gate. */
  evidence: { requirement: number; item: EvidenceItem }[];
  /** Approvals accepted towards the pending gate (one per approver). */
  approvals: { approver: string; jti: string; expiresAt: number }[];
  /** The approver whose rejection shut the gate, for the rest of the sequence. */
  rejectedBy: string | null;
  spent: Record<NonceKind, string[]>;
  receipts: ModelReceipt[];
}

// ---------------------------------------------------------------- requests

/** The claims of a capability whose signature verified (the route checked the signature). */
export interface TokenFacts {
  seq: string;
  workflow: string;
  stage: string;
  jti: string;
  aud: readonly string[];
  exp: number;
  nbf: number;
}

/** An attestation whose signature verified, by a key its `iss` owns. */
export interface AttestationFacts {
  iss: string;
  seq: string;
  stage: string;
  type: string;
  iat: number;
  exp?: number;
  jti: string;
  /** SHA-256 of the compact JWS. */
  digest: string;
}

/** An approval whose signature verified, by a key its approver owns; who they are comes from the configuration. */
export interface ApprovalFacts {
  approver: string;
  groups: readonly string[];
  approverSubject: string | null;
  seq: string;
  stage: string;
  decision: "approve" | "reject";
  /** What the approver signed (its digest is in the approval). */
  subject: ApprovalSubject;
  iat: number;
  exp?: number;
  jti: string;
}

export type ModelRequest =
  | { kind: "redeem"; token: TokenFacts; tool: string; action: string }
  /** `attestation: null`: it does not verify (signature, key, typ, iss not the key's owner). */
  | { kind: "evidence"; attestation: AttestationFacts | null }
  | { kind: "approval"; approval: ApprovalFacts | null }
  /** POST /v1/sequences/:id/capability by agent `caller`. */
  | { kind: "reissue"; caller: string }
  /** POST /v1/sequences/:id/revoke by orchestrator `caller`. */
  | { kind: "revoke"; caller: string };

export interface ModelOutcome {
  decision: Decision;
  code: Code | null;
  status: number;
  /** Whether the answer carries a receipt (and the chain grew by one). */
  receipted: boolean;
  /** ALLOW/ESCALATE answers: whether this decision sealed the sequence. */
  sealed: boolean;
  /** A capability minted by this decision. */
  mint: { stage: string; exp: number } | null;
  /** The live capability handed back unchanged (not a decision, not receipted). */
  live: boolean;
  /** The stage this decision opened. */
  advancedTo: string | null;
  /** Which rule of the model decided (for coverage reports). */
  rule: string;
}

export interface Step {
  outcome: ModelOutcome;
  next: ModelSequence;
}

// ---------------------------------------------------------------- the machine

const clone = (s: ModelSequence): ModelSequence => structuredClone(s);
const seconds = (now: number) => now / 1000;
const stageOf = (wf: ModelWorkflow, s: ModelSequence): ModelStage => {
  const stage = wf.stages[s.stage];
  if (!stage) throw new Error(`model: no stage ${s.stage}`);
  return stage;
};

/** A refusal that is not a decision of the sequence: answered, never receipted, nothing changes. */
function unreceipted(s: ModelSequence, code: Code, rule: string): Step {
  return { outcome: { decision: "DENY", code, status: STATUS[code], receipted: false, sealed: false, mint: null, live: false, advancedTo: null, rule }, next: s };
}

/** A receipted DENY: the state is unchanged but for the receipt (README: "A denied request consumes nothing"). */
function deny(wf: ModelWorkflow, s: ModelSequence, kind: ModelReceipt["kind"], code: Code, rule: string): Step {
  const next = clone(s);
  next.receipts.push({ kind, stage: stageOf(wf, s).id, decision: "DENY", code, spends: [], advance: null, seal: null, mint: false });
  return { outcome: { decision: "DENY", code, status: STATUS[code], receipted: true, sealed: false, mint: null, live: false, advancedTo: null, rule: `${kind}.${rule}` }, next };
}

function mintFor(wf: ModelWorkflow, next: ModelSequence, stageIndex: number, now: number, reissues: number) {
  const stage = wf.stages[stageIndex];
  if (!stage) throw new Error(`model: no stage ${stageIndex}`);
  const exp = Math.floor(seconds(now)) + stage.ttl;
  next.live = { jti: PENDING_JTI, stage: stageIndex, exp, reissues };
  return { stage: stage.id, exp };
}

/** Starts a sequence: stage 0 is open and its capability minted (the `start` receipt). */
export function startSequence(
  wf: ModelWorkflow,
  record: { seq: string; params: Record<string, unknown>; subject: string; actor: string; orchestrator: string },
  now: number,
): Step {
  const s: ModelSequence = {
    ...record,
    status: "active",
    sealReason: null,
    stage: 0,
    uses: (wf.stages[0]?.grants ?? []).map(() => 0),
    live: null,
    evidence: [],
    approvals: [],
    rejectedBy: null,
    spent: { capability: [], attestation: [], approval: [] },
    receipts: [],
  };
  const mint = mintFor(wf, s, 0, now, 0);
  s.receipts.push({ kind: "start", stage: stageOf(wf, s).id, decision: "ALLOW", code: null, spends: [], advance: null, seal: null, mint: true });
  return { outcome: { decision: "ALLOW", code: null, status: 201, receipted: true, sealed: false, mint, live: false, advancedTo: null, rule: "start" }, next: s };
}

/** The harness tells the model the jti of the capability the Worker minted. */
export function bindMinted(s: ModelSequence, jti: string): ModelSequence {
  if (!s.live || s.live.jti !== PENDING_JTI) throw new Error("model: no capability is waiting for its jti");
  const next = clone(s);
  (next.live as LiveCapability).jti = jti;
  return next;
}

/** A capability whose signature does not verify names no sequence: TOKEN_INVALID, no receipt (README). */
export function unverifiableCapability(): ModelOutcome {
  return { decision: "DENY", code: "TOKEN_INVALID", status: 401, receipted: false, sealed: false, mint: null, live: false, advancedTo: null, rule: "redeem.unverifiable" };
}

/**
 * One request to sequence `s` at time `now`. For a redeem, `s` is the sequence
 * the token's (signed) `seq` names: that is where the gate routes it.
 */
export function step(wf: ModelWorkflow, s: ModelSequence, request: ModelRequest, now: number): Step {
  // Who may call what is checked before the sequence's state is looked at (README "Who may call what").
  if (request.kind === "reissue" && request.caller !== s.actor) return unreceipted(s, "FORBIDDEN", "reissue.not-the-actor");
  if (request.kind === "revoke" && request.caller !== s.orchestrator) return unreceipted(s, "FORBIDDEN", "revoke.not-the-orchestrator");
  // "Anything sent to a sealed sequence is refused with SEALED_SEQUENCE; nothing unseals it",
  // and "requests after it are refused ... and not receipted".
  if (s.status === "sealed") return unreceipted(s, "SEALED_SEQUENCE", `${request.kind}.sealed`);
  switch (request.kind) {
    case "redeem":
      return redeem(wf, s, request.token, request.tool, request.action, now);
    case "evidence":
      return evidence(wf, s, request.attestation, now);
    case "approval":
      return approval(wf, s, request.approval, now);
    case "reissue":
      return reissue(wf, s, now);
    case "revoke": {
      const next = clone(s);
      next.status = "sealed";
      next.sealReason = "revoked";
      next.receipts.push({ kind: "revoke", stage: stageOf(wf, s).id, decision: "ALLOW", code: null, spends: [], advance: null, seal: "revoked", mint: false });
      return { outcome: { decision: "ALLOW", code: null, status: 200, receipted: true, sealed: true, mint: null, live: false, advancedTo: null, rule: "revoke.seal" }, next };
    }
  }
}

function redeem(wf: ModelWorkflow, s: ModelSequence, token: TokenFacts, tool: string, action: string, now: number): Step {
  const stage = stageOf(wf, s);
  const t = seconds(now);
  // TOKEN_INVALID: "another sequence or workflow version" (cannot happen through routing; kept for completeness).
  if (token.seq !== s.seq || token.workflow !== wf.hash) return deny(wf, s, "redeem", "TOKEN_INVALID", "another-sequence");
  // ORDER: audience, then time, then stage, then nonce, then superseded, then scope.
  if (!token.aud.includes(tool)) return deny(wf, s, "redeem", "AUDIENCE_MISMATCH", "audience");
  if (token.exp + wf.skew <= t) return deny(wf, s, "redeem", "TOKEN_EXPIRED", "expired");
  if (token.nbf - wf.skew > t) return deny(wf, s, "redeem", "TOKEN_INVALID", "not-yet-valid");
  // "Only the current stage's capability is ever valid at the gate."
  if (token.stage !== stage.id) return deny(wf, s, "redeem", "SEQUENCE_VIOLATION", "stage-not-current");
  // "A capability's jti is spent when no grant of its stage has a use left; every later presentation is REPLAY_NONCE."
  if (s.spent.capability.includes(token.jti)) return deny(wf, s, "redeem", "REPLAY_NONCE", "spent");
  // "One live capability per stage ... the superseded token is refused" (TOKEN_INVALID: "superseded").
  if (s.live?.jti !== token.jti) return deny(wf, s, "redeem", "TOKEN_INVALID", "superseded");
  // "action not granted to this tool in this stage" / "a grant's uses ... exhausted" → SCOPE_EXCEEDED.
  const matching = stage.grants.map((g, i) => ({ g, i })).filter(({ g }) => g.tool === tool && g.actions.includes(action));
  if (matching.length === 0) {
    // "an action (with its tool) that the workflow grants only in another stage" → SEQUENCE_VIOLATION.
    const elsewhere = wf.stages.some((other) => other.id !== stage.id && other.grants.some((g) => g.tool === tool && g.actions.includes(action)));
    if (elsewhere) return deny(wf, s, "redeem", "SEQUENCE_VIOLATION", "granted-in-another-stage");
    return deny(wf, s, "redeem", "SCOPE_EXCEEDED", "not-granted");
  }
  const usable = matching.find(({ g, i }) => (s.uses[i] ?? 0) < g.uses);
  if (!usable) return deny(wf, s, "redeem", "SCOPE_EXCEEDED", "grant-used-up");

  const next = clone(s);
  next.uses[usable.i] = (next.uses[usable.i] ?? 0) + 1;
  const receipt: ModelReceipt = { kind: "redeem", stage: stage.id, decision: "ALLOW", code: null, spends: [], advance: null, seal: null, mint: false };
  const exhausted = stage.grants.every((g, i) => (next.uses[i] ?? 0) >= g.uses);
  if (exhausted) {
    next.spent.capability.push(token.jti);
    receipt.spends.push({ kind: "capability", jti: token.jti });
    // "the last use of the last stage seals the sequence" (complete: last_use).
    if (s.stage === wf.stages.length - 1) {
      next.status = "sealed";
      next.sealReason = "completed";
      receipt.seal = "completed";
    }
  }
  next.receipts.push(receipt);
  return {
    outcome: {
      decision: "ALLOW",
      code: null,
      status: 200,
      receipted: true,
      sealed: receipt.seal !== null,
      mint: null,
      live: false,
      advancedTo: null,
      rule: receipt.seal ? "redeem.last-use-seals" : exhausted ? "redeem.last-use-spends" : "redeem.use",
    },
    next,
  };
}

/**
 * What evidence for the current stage must get past before its content is looked at:
 * the sequence it is bound to, its jti, the stage it names, a gate, a rejection.
 */
function pendingGate(
  wf: ModelWorkflow,
  s: ModelSequence,
  kind: "evidence" | "approval",
  claims: { seq: string; stage: string; jti: string },
): { gate: ModelGate } | { code: Code; rule: string } {
  const stage = stageOf(wf, s);
  // "another sequence" → EVIDENCE_INVALID.
  if (claims.seq !== s.seq) return { code: "EVIDENCE_INVALID", rule: "another-sequence" };
  // ORDER: the jti before the stage it names.
  if (s.spent[kind === "evidence" ? "attestation" : "approval"].includes(claims.jti)) return { code: "REPLAY_NONCE", rule: "spent" };
  // Evidence for a stage that is not current: SEQUENCE_VIOLATION; an approval for another stage
  // "does not match the digest: EVIDENCE_INVALID".
  if (claims.stage !== stage.id) return { code: kind === "evidence" ? "SEQUENCE_VIOLATION" : "EVIDENCE_INVALID", rule: "another-stage" };
  // The last stage of a last_use workflow has no gate that takes evidence.
  const gate = wf.stages[s.stage + 1]?.gate;
  if (!gate) return { code: "SEQUENCE_VIOLATION", rule: "no-gate" };
  // "A rejection is final for the sequence ... APPROVAL_DENIED for every later attestation or approval of that gate."
  if (s.rejectedBy !== null) return { code: "APPROVAL_DENIED", rule: "gate-rejected" };
  return { gate };
}

function evidence(wf: ModelWorkflow, s: ModelSequence, att: AttestationFacts | null, now: number): Step {
  // "An attestation that fails verification *is* receipted ... as EVIDENCE_INVALID."
  if (!att) return deny(wf, s, "evidence", "EVIDENCE_INVALID", "unverifiable");
  const pending = pendingGate(wf, s, "evidence", att);
  if ("code" in pending) return deny(wf, s, "evidence", pending.code, pending.rule);
  const { gate } = pending;
  // "a type the gate does not take" → EVIDENCE_INVALID.
  const candidates = gate.attestations.map((r, i) => ({ r, i })).filter(({ r }) => r.issuer === att.iss && r.type === att.type);
  if (candidates.length === 0) return deny(wf, s, "evidence", "EVIDENCE_INVALID", "not-taken-by-gate");
  const t = seconds(now);
  const satisfied = new Set(s.evidence.map((e) => e.requirement));
  // A requirement not yet met first, so two attestations of one type can fill two slots.
  candidates.sort((a, b) => Number(satisfied.has(a.i)) - Number(satisfied.has(b.i)));
  let failure: Code | null = null;
  for (const { r, i } of candidates) {
    // EVIDENCE_STALE: "older than max_age_seconds, issued in the future, or past its exp".
    const stale = att.iat - wf.skew > t || t - att.iat > r.maxAge + wf.skew || (att.exp !== undefined && att.exp + wf.skew <= t);
    if (stale) {
      failure ??= "EVIDENCE_STALE";
      continue;
    }
    const next = clone(s);
    next.spent.attestation.push(att.jti);
    next.evidence.push({ requirement: i, item: { iss: att.iss, type: att.type, jti: att.jti, digest: att.digest } });
    return gateOutcome(wf, next, gate, "evidence", { kind: "attestation", jti: att.jti }, now);
  }
  return deny(wf, s, "evidence", failure ?? "EVIDENCE_INVALID", "stale");
}

/** The subject the pending gate's approvers approve (README "Approval"). */
export function expectedSubject(wf: ModelWorkflow, s: ModelSequence): ApprovalSubject {
  return {
    seq: s.seq,
    workflow: wf.hash,
    stage: stageOf(wf, s).id,
    opens: wf.stages[s.stage + 1]?.id ?? null,
    params: s.params,
    evidence: s.evidence.map((e) => e.item),
  };
}

/** Approvals still in force at `now`: "It counts until min(exp, iat + max_age_seconds)". */
export function counting(wf: ModelWorkflow, s: ModelSequence, now: number) {
  return s.approvals.filter((a) => a.expiresAt + wf.skew > seconds(now));
}

function approval(wf: ModelWorkflow, s: ModelSequence, ap: ApprovalFacts | null, now: number): Step {
  if (!ap) return deny(wf, s, "approval", "EVIDENCE_INVALID", "unverifiable");
  const pending = pendingGate(wf, s, "approval", ap);
  if ("code" in pending) return deny(wf, s, "approval", pending.code, pending.rule);
  const required = pending.gate.approvals;
  if (!required) return deny(wf, s, "approval", "EVIDENCE_INVALID", "gate-takes-no-approvals");
  // "by someone outside the group, or by the excluded subject or orchestrator" → EVIDENCE_INVALID.
  if (!ap.groups.includes(required.group)) return deny(wf, s, "approval", "EVIDENCE_INVALID", "not-in-group");
  if (required.excludeSubject && (ap.approver === s.subject || ap.approverSubject === s.subject)) return deny(wf, s, "approval", "EVIDENCE_INVALID", "is-the-subject");
  if (required.excludeOrchestrator && ap.approver === s.orchestrator) return deny(wf, s, "approval", "EVIDENCE_INVALID", "is-the-orchestrator");
  // ORDER: freshness, then "approvals come after attestations", then the digest.
  const t = seconds(now);
  if (ap.iat - wf.skew > t) return deny(wf, s, "approval", "EVIDENCE_STALE", "issued-in-the-future");
  const expiresAt = Math.min(ap.exp ?? Number.POSITIVE_INFINITY, ap.iat + required.maxAge);
  if (expiresAt + wf.skew <= t) return deny(wf, s, "approval", "EVIDENCE_STALE", "expired");
  const satisfied = new Set(s.evidence.map((e) => e.requirement));
  if (pending.gate.attestations.some((_, i) => !satisfied.has(i))) return deny(wf, s, "approval", "SEQUENCE_VIOLATION", "before-attestations");
  if (canonical(ap.subject) !== canonical(expectedSubject(wf, s))) return deny(wf, s, "approval", "EVIDENCE_INVALID", "digest");

  const stage = stageOf(wf, s);
  if (ap.decision === "reject") {
    // "It is the one denial that changes state: the reject approval is spent and the gate is shut."
    const next = clone(s);
    next.spent.approval.push(ap.jti);
    next.rejectedBy = ap.approver;
    const spends = [{ kind: "approval" as const, jti: ap.jti }];
    next.receipts.push({ kind: "approval", stage: stage.id, decision: "DENY", code: "APPROVAL_DENIED", spends, advance: null, seal: null, mint: false });
    const outcome: ModelOutcome = { decision: "DENY", code: "APPROVAL_DENIED", status: 403, receipted: true, sealed: false, mint: null, live: false, advancedTo: null, rule: "approval.reject" };
    return { outcome, next };
  }
  // "A second approval from someone already counted is answered ESCALATE and changes nothing."
  if (counting(wf, s, now).some((a) => a.approver === ap.approver)) {
    const next = clone(s);
    next.receipts.push({ kind: "approval", stage: stage.id, decision: "ESCALATE", code: "APPROVAL_REQUIRED", spends: [], advance: null, seal: null, mint: false });
    const outcome: ModelOutcome = { decision: "ESCALATE", code: "APPROVAL_REQUIRED", status: 202, receipted: true, sealed: false, mint: null, live: false, advancedTo: null, rule: "approval.counts-once" };
    return { outcome, next };
  }
  // "after their approval expired, a new one replaces it."
  const next = clone(s);
  next.spent.approval.push(ap.jti);
  const replaces = next.approvals.some((a) => a.approver === ap.approver);
  next.approvals = [...next.approvals.filter((a) => a.approver !== ap.approver), { approver: ap.approver, jti: ap.jti, expiresAt }];
  const decided = gateOutcome(wf, next, pending.gate, "approval", { kind: "approval", jti: ap.jti }, now);
  if (replaces) decided.outcome.rule += " (replacing an expired one)";
  return decided;
}

/**
 * The pending gate once this request's evidence is in: still waiting on
 * attestations (ALLOW, nothing opens); waiting on approvals (ESCALATE,
 * APPROVAL_REQUIRED, receipted, the evidence kept); or satisfied: the next stage
 * opens with a new capability ("advancing closes the previous stage").
 */
function gateOutcome(
  wf: ModelWorkflow,
  next: ModelSequence,
  gate: ModelGate,
  kind: "evidence" | "approval",
  spend: { kind: NonceKind; jti: string },
  now: number,
): Step {
  const stageId = stageOf(wf, next).id;
  const receipt: ModelReceipt = { kind, stage: stageId, decision: "ALLOW", code: null, spends: [spend], advance: null, seal: null, mint: false };
  const satisfied = new Set(next.evidence.map((e) => e.requirement));
  const waiting = gate.attestations.some((_, i) => !satisfied.has(i));
  const quiet = { receipted: true, sealed: false, mint: null, live: false, advancedTo: null };
  if (waiting) {
    next.receipts.push(receipt);
    return { outcome: { decision: "ALLOW", code: null, status: 200, ...quiet, rule: `${kind}.gate-still-waits` }, next };
  }
  if (gate.approvals && counting(wf, next, now).length < gate.approvals.count) {
    receipt.decision = "ESCALATE";
    receipt.code = "APPROVAL_REQUIRED";
    next.receipts.push(receipt);
    const rule = kind === "approval" && next.approvals.length > counting(wf, next, now).length ? "approval.waits-some-expired" : `${kind}.waits-for-approvals`;
    return { outcome: { decision: "ESCALATE", code: "APPROVAL_REQUIRED", status: 202, ...quiet, rule }, next };
  }
  const opened = next.stage + 1;
  const stage = wf.stages[opened];
  if (!stage) throw new Error("model: a gate past the last stage (complete: attestations is not covered)");
  next.stage = opened;
  next.uses = stage.grants.map(() => 0);
  next.evidence = [];
  next.approvals = [];
  const mint = mintFor(wf, next, opened, now, 0);
  receipt.advance = opened;
  receipt.mint = true;
  next.receipts.push(receipt);
  return { outcome: { decision: "ALLOW", code: null, status: 200, receipted: true, sealed: false, mint, live: false, advancedTo: stage.id, rule: `${kind}.opens-${stage.id}` }, next };
}

function reissue(wf: ModelWorkflow, s: ModelSequence, now: number): Step {
  const decided = reissueDecision(wf, s, now);
  const t = seconds(now);
  const early = wf.deviations.earlyReissue && s.live !== null && s.live.exp + wf.skew > t && !decided.outcome.live;
  if (early) decided.outcome.rule += " [known deviation: before expiry]";
  return decided;
}

function reissueDecision(wf: ModelWorkflow, s: ModelSequence, now: number): Step {
  const stage = stageOf(wf, s);
  // "returns the current token while it is valid" — a read, not a decision. Valid as the gate
  // judges it: not "past its exp (with the workflow's skew)", i.e. exp + skew > now.
  const valid = (exp: number) => (wf.deviations.earlyReissue ? exp - wf.skew : exp + wf.skew) > seconds(now);
  if (s.live && valid(s.live.exp)) {
    const rule = s.spent.capability.includes(s.live.jti) ? "reissue.live-but-spent" : "reissue.live";
    return { outcome: { decision: "ALLOW", code: null, status: 200, receipted: false, sealed: false, mint: null, live: true, advancedTo: null, rule }, next: s };
  }
  // "once expired it re-issues one (a receipted decision) up to the stage's max_reissues, sharing the
  // stage's use counters". ORDER: no uses left before the re-issue limit (both SCOPE_EXCEEDED).
  if (stage.grants.every((g, i) => (s.uses[i] ?? 0) >= g.uses)) return deny(wf, s, "reissue", "SCOPE_EXCEEDED", "no-uses-left");
  const reissues = s.live?.reissues ?? 0;
  if (reissues >= stage.maxReissues) return deny(wf, s, "reissue", "SCOPE_EXCEEDED", "limit");
  const next = clone(s);
  const mint = mintFor(wf, next, s.stage, now, reissues + 1);
  next.receipts.push({ kind: "reissue", stage: stage.id, decision: "ALLOW", code: null, spends: [], advance: null, seal: null, mint: true });
  return { outcome: { decision: "ALLOW", code: null, status: 200, receipted: true, sealed: false, mint, live: false, advancedTo: null, rule: "reissue.mint" }, next };
}

/** What GET /v1/sequences/:id should show of the model's state. */
export function observe(wf: ModelWorkflow, s: ModelSequence, now: number) {
  const gate = s.status === "active" ? wf.stages[s.stage + 1]?.gate : undefined;
  const approvals = gate?.approvals;
  const inForce = counting(wf, s, now);
  return {
    stage: s.stage,
    status: s.status,
    sealReason: s.sealReason,
    uses: s.uses,
    capability: s.live && { jti: s.live.jti, exp: s.live.exp, reissues: s.live.reissues },
    approvals: approvals
      ? {
          remaining: Math.max(0, approvals.count - inForce.length),
          approvedBy: inForce.map((a) => a.approver).sort(),
          rejectedBy: s.rejectedBy,
        }
      : null,
  };
}

/** Key-sorted JSON: equal values give equal strings (what RFC 8785 guarantees for these plain values). */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}
