import { decodeJwt } from "jose";
import type { ReasonCode } from "../../errors.js";
import { approvalSubject } from "../../policy/approval-subject.js";
import { capabilityClaims } from "../../policy/capability-claims.js";
import type { CompiledWorkflow } from "../../policy/compile.js";
import { decide } from "../../policy/decide.js";
import type { ConsultedSignal, Decision, DelegatedGrant, Fresh, LedgerRequest, LedgerState, Outcome } from "../../policy/types.js";
import { declaredSignals } from "../../policy/workflow-schema.js";
import { checkApproval } from "../../tokens/approval.js";
import { checkAttestation } from "../../tokens/attestation.js";
import { signCapability, verifyCapabilitySignature } from "../../tokens/capability.js";
import { digestJson } from "../../tokens/digest.js";
import { checkDpopProof, createDpopProof } from "../../tokens/dpop.js";
import { TYP } from "../../tokens/kinds.js";
import { LedgerFold } from "../ledger-fold.js";
import { decidingRule } from "./explain.js";
import { TEST_ISSUER, type TestKeys, signEvidence } from "./keys.js";
import type { PlannedStart, PlannedStep } from "./plan.js";
import { seconds, timeFrom } from "./times.js";
import { checkTestWorkloadToken, signWorkloadToken } from "./workload.js";

/** A step that cannot be presented as written: a capability never minted, an outcome of a refused redeem. */
export class StepError extends Error {}

/** What a step got: the decision, and the state it left. */
export interface Answer {
  decision: Decision;
  code: ReasonCode | null;
  message: string;
  /** The condition or rule that decided, when there is one (explain.ts). */
  decided_by?: string;
  /** Refused before `decide()`, as the Worker's route refuses it (a forged capability): no receipt, no state change. */
  before_decide?: true;
  /** The current stage, and whether the sequence is sealed, once the step is decided. */
  stage: string;
  sealed: boolean;
}

type DpopSent = { proof: string; htm: string; htu: string };

/** What a step puts on the wire: tokens as compact JWS, so a replay sends the very same bytes. */
type Presented =
  | { kind: "redeem"; token: string; tool: string; action: string; args: Record<string, unknown>; dpop: DpopSent | undefined }
  | { kind: "delegate"; token: string; actor: string; grants: DelegatedGrant[]; dpop: DpopSent | undefined }
  | { kind: "attestation"; jws: string }
  | { kind: "workload"; attester: string; jws: string }
  | { kind: "approval"; jws: string }
  | { kind: "outcome"; redeemed: Redeemed; outcome: "succeeded" | "failed" | "unknown"; detail: string | undefined }
  | { kind: "reissue" }
  | { kind: "revoke"; reason: string };

/** An allowed redeem's receipt, as a tool reports an outcome on it. */
interface Redeemed {
  tool: string;
  n: number;
  hash: string;
  stage: string;
  action: string;
}

/** How long a signal a step declares stays active, unless it says. */
const SIGNAL_DEFAULT_MS = 3_600_000;

/**
 * One test's sequence: its ledger (folded through the Worker's own `decide()`), the
 * capabilities minted for it, and what each step presented. The shell around `decide()`
 * does here what the Worker's routes and ledger do: verify every token with the same
 * checks, draw the fresh jtis, consult the declared signals, sign the minted capability.
 */
export class TestSequence {
  readonly #ledger: LedgerFold;
  readonly #declared: Set<string>;
  readonly #capabilities = new Map<string, string>();
  readonly #presented: (Presented | undefined)[] = [];
  readonly #redeemed: (Redeemed | undefined)[] = [];
  #current: string | undefined;
  #decisions = 0;

  constructor(
    private readonly workflow: CompiledWorkflow,
    private readonly keys: TestKeys,
    readonly seq: string,
  ) {
    this.#ledger = new LedgerFold(workflow);
    this.#declared = new Set(declaredSignals(workflow.definition));
  }

  async start({ at, params, subject, actor, orchestrator }: PlannedStart): Promise<Answer> {
    const bound = this.workflow.definition.sender_constrained ? { actorJkt: this.keys.actor.jkt } : {};
    const request: LedgerRequest = { kind: "start", params, subject, actor, orchestrator, ...bound, fresh: this.#fresh() };
    return (await this.#decide(request, at)).answer;
  }

  async step(step: PlannedStep): Promise<Answer> {
    const presented = step.action.kind === "replay" ? this.#presented[step.ref ?? -1] : await this.#present(step);
    if (!presented) throw new StepError(`step ${(step.ref ?? -1) + 1} presented nothing to replay`);
    this.#presented[step.index] = presented;
    const state = this.#state();
    // The ledger hands out the live capability again while the gate would honour it: a read, not a decision.
    if (presented.kind === "reissue" && state.status === "active" && state.capability) {
      if (state.capability.exp + this.workflow.definition.clock_skew_seconds > step.at / 1000) {
        return { decision: "ALLOW", code: null, message: "current capability (handed out again: no decision)", ...this.#where() };
      }
    }
    const built = await this.#request(presented, step);
    if ("refused" in built) return built.refused;
    const { answer, n, hash, stage } = await this.#decide(built.request, step.at);
    if (presented.kind === "redeem" && answer.decision === "ALLOW") {
      this.#redeemed[step.index] = { tool: presented.tool, n, hash, stage, action: presented.action };
    }
    return answer;
  }

  async #decide(request: LedgerRequest, at: number) {
    const { workflow, keys, seq } = this;
    const state = await this.#ledger.snapshot(request, seq, at);
    const outcome: Outcome = decide(workflow, state, request, at);
    this.#ledger.fold(state, outcome.effects);
    const n = this.#decisions++;
    // No receipt is signed; its hash only names the decision (in the capability it mints, in outcomes).
    const hash = await digestJson({ seq, n, at, kind: request.kind, decision: outcome.decision, code: outcome.code, effects: outcome.effects });
    if (outcome.mint) {
      const token = await signCapability(keys.keyring, await capabilityClaims(TEST_ISSUER, workflow, state.record, outcome.mint, hash));
      this.#capabilities.set(outcome.mint.stageId, token);
      this.#current = token;
    }
    const rule = decidingRule(workflow, state, request, outcome);
    const answer: Answer = { decision: outcome.decision, code: outcome.code, message: outcome.message, ...(rule ? { decided_by: rule } : {}), ...this.#where() };
    return { answer, n, hash, stage: workflow.definition.stages[state.stage]?.id ?? "" };
  }

  /** The step as the agent, attester, approver or tool would send it. */
  async #present(step: PlannedStep): Promise<Presented> {
    const { keys, seq } = this;
    const { action, at } = step;
    const number = step.index + 1;
    switch (action.kind) {
      case "redeem": {
        const { value } = action;
        const token = this.#capability(value.stage);
        const claims = decodeJwt(token) as { aud: string[]; cnf?: { jkt: string } };
        const tool = value.tool ?? this.#toolFor(value.action, claims.aud);
        // A forgery: the same claims, the same kid, another key.
        const sent = value.forged ? await keys.forger.sign(decodeJwt(token), TYP.capability) : token;
        const dpop = await this.#dpop(sent, claims.cnf, value.dpop, `https://${tool}.tools.test/${value.action}`, number, at);
        return { kind: "redeem", token: sent, tool, action: value.action, args: value.args, dpop };
      }
      case "delegate": {
        const { value } = action;
        const token = this.#capability(value.stage);
        const claims = decodeJwt(token) as { cnf?: { jkt: string } };
        const dpop = await this.#dpop(token, claims.cnf, value.dpop, `https://baton.test/v1/sequences/${seq}/delegate`, number, at);
        return { kind: "delegate", token, actor: value.actor, grants: value.grants, dpop };
      }
      case "attestation": {
        const { value } = action;
        const claims = {
          iss: value.attester,
          seq: value.other_sequence ? `${seq}-other` : seq,
          stage: value.stage ?? this.#where().stage,
          type: value.type,
          iat: seconds(value.iat ? timeFrom(value.iat, at) : at),
          ...(value.exp ? { exp: seconds(timeFrom(value.exp, at)) } : {}),
          jti: `${seq}.attestation.${number}`,
          facts: value.facts,
        };
        return { kind: "attestation", jws: await signEvidence(keys.attester(value.signed_by ?? value.attester), TYP.attestation, claims) };
      }
      case "workload": {
        const { value } = action;
        const jws = await signWorkloadToken(keys.workload(value.attester), value, seq, at, `${seq}.workload.${number}`);
        return { kind: "workload", attester: value.attester, jws };
      }
      case "approval": {
        const { value } = action;
        const stage = value.stage ?? this.#where().stage;
        // What the approver is shown and signs: the pending gate's subject, as GET /v1/sequences/:id gives it.
        const subject = approvalSubject(this.workflow, this.#state());
        const claims = {
          iss: value.approver,
          seq: value.other_sequence ? `${seq}-other` : seq,
          stage,
          decision: value.decision,
          digest: await digestJson(subject ?? { seq, stage }),
          iat: seconds(value.iat ? timeFrom(value.iat, at) : at),
          ...(value.exp ? { exp: seconds(timeFrom(value.exp, at)) } : {}),
          jti: `${seq}.approval.${number}`,
          ...(value.comment ? { comment: value.comment } : {}),
        };
        return { kind: "approval", jws: await signEvidence(keys.approver(value.signed_by ?? value.approver), TYP.approval, claims) };
      }
      case "outcome": {
        const redeemed = this.#redeemed[step.ref ?? -1];
        if (!redeemed) throw new StepError(`step ${(step.ref ?? -1) + 1} was not an allowed redeem: there is no receipt to report an outcome on`);
        return { kind: "outcome", redeemed, outcome: action.value.result, detail: action.value.detail };
      }
      case "reissue":
        return { kind: "reissue" };
      case "revoke":
        return { kind: "revoke", reason: action.value.reason };
      case "replay":
        throw new StepError("a replay presents its step's request");
    }
  }

  /** The request `decide()` gets, through the checks the Worker's routes make; or the route's own refusal. */
  async #request(presented: Presented, step: PlannedStep): Promise<{ request: LedgerRequest } | { refused: Answer }> {
    const { keys } = this;
    const fresh = this.#fresh();
    const signals = this.#signals(step);
    switch (presented.kind) {
      case "redeem":
      case "delegate": {
        const check = await verifyCapabilitySignature(presented.token, keys.keyring, TEST_ISSUER);
        if (!check.ok) {
          const by = "the capability's signature, checked before decide(): nothing is receipted";
          return { refused: { decision: "DENY", code: "TOKEN_INVALID", message: check.message, decided_by: by, before_decide: true, ...this.#where() } };
        }
        const { dpop } = presented;
        const proof = dpop && { proof: await checkDpopProof(dpop.proof), htm: dpop.htm, htu: dpop.htu };
        const token = { token: check.claims, tokenDigest: check.digest, dpop: proof };
        if (presented.kind === "delegate") return { request: { kind: "delegate", ...token, actor: presented.actor, grants: presented.grants } };
        return { request: { kind: "redeem", tool: presented.tool, action: presented.action, args: presented.args, ...token, signals } };
      }
      case "attestation":
        return { request: { kind: "evidence", attestation: await checkAttestation(presented.jws, keys.attesterKeys), fresh, signals } };
      case "workload": {
        const attestation = await checkTestWorkloadToken(keys.workload(presented.attester), presented.jws);
        return { request: { kind: "evidence", attestation, fresh, signals } };
      }
      case "approval":
        return { request: { kind: "approval", approval: await checkApproval(presented.jws, keys.approverKeys), fresh, signals } };
      case "outcome": {
        const { tool, n, hash, stage, action } = presented.redeemed;
        return { request: { kind: "outcome", tool, redeemed: { n, hash, stage, action }, outcome: presented.outcome, detail: presented.detail, fresh, signals } };
      }
      case "reissue":
        return { request: { kind: "reissue", agent: this.#state().record.actor, fresh } };
      case "revoke":
        return { request: { kind: "revoke", orchestrator: this.#state().record.orchestrator, reason: presented.reason } };
    }
  }

  /** The active signals the ledger would fetch: only of detectors the workflow declares, or none at all. */
  #signals(step: PlannedStep): ConsultedSignal[] | undefined {
    if (this.#declared.size === 0) return undefined;
    return step.signals
      .filter((s) => this.#declared.has(s.detector))
      .map((s, i) => ({
        id: `${this.seq}.signal.${step.index + 1}.${i}`,
        detector: s.detector,
        version: s.version,
        severity: s.severity,
        expires_at: seconds(s.expires_at ? timeFrom(s.expires_at, step.at) : step.at + SIGNAL_DEFAULT_MS),
      }))
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  /** A proof of the agent's key for this request, when the capability is bound to one. */
  async #dpop(token: string, cnf: { jkt: string } | undefined, how: "none" | "other-key" | undefined, htu: string, number: number, at: number) {
    if (!cnf || how === "none") return undefined;
    const holder = how === "other-key" ? this.keys.thief : this.keys.actor;
    const proof = await createDpopProof(holder.privateKey, holder.publicJwk, { htm: "POST", htu, accessToken: token, iat: seconds(at), jti: `${this.seq}.dpop.${number}` });
    return { proof, htm: "POST", htu };
  }

  #capability(stage: string | undefined): string {
    const token = stage === undefined ? this.#current : this.#capabilities.get(stage);
    if (!token) throw new StepError(stage === undefined ? "no capability has been minted" : `no capability of stage ${stage} has been minted in this test`);
    return token;
  }

  /** The tool an action goes to: the one the workflow grants it to (among the capability's audiences), else the capability's only audience. */
  #toolFor(action: string, aud: string[]): string {
    const granted = [...new Set(this.workflow.definition.stages.flatMap((s) => s.grants.filter((g) => g.actions.includes(action)).map((g) => g.audience)))];
    const addressed = granted.filter((tool) => aud.includes(tool));
    const tool = addressed.length === 1 ? addressed[0] : granted.length === 1 ? granted[0] : granted.length === 0 && aud.length === 1 ? aud[0] : undefined;
    if (tool === undefined) throw new StepError(`name the tool: ${action} is granted to ${granted.length ? granted.join(" and ") : "no tool"}`);
    return tool;
  }

  #fresh(): Fresh {
    return { jti: `${this.seq}.${this.#decisions}` };
  }

  #state(): LedgerState {
    const state = this.#ledger.state;
    if (!state) throw new Error("the sequence has not started");
    return state;
  }

  #where(): { stage: string; sealed: boolean } {
    const state = this.#state();
    return { stage: this.workflow.definition.stages[state.stage]?.id ?? "", sealed: state.status === "sealed" };
  }
}
