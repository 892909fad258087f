import { WORKLOAD_TOKEN_TYPE } from "../../tokens/kinds.js";
import type { CompiledRequirement } from "../compile.js";
import { gateProgress } from "../gate-tally.js";
import type { AcceptedEvidence, AttestationCheck, Effect, Outcome, WorkloadTokenCheck } from "../types.js";
import { type DecisionContext, type RequestOf, withState } from "./context.js";
import { gateOutcome, pendingGate } from "./gate.js";
import { deny } from "./verdicts.js";

/**
 * What the gate reads of verified evidence of either kind: who (the attester), for which
 * sequence and stage, of what type, when, and what its CEL sees as `attestation`.
 */
interface Presented {
  iss: string;
  seq: string;
  /** A workload token names no stage: its jti (spent once) and the gate's CEL decide which gate it opens. */
  stage: string | null;
  type: string;
  jti: string;
  iat: number;
  nbf: number | undefined;
  exp: number | undefined;
  attestation: Record<string, unknown>;
}

function presented(check: Extract<AttestationCheck | WorkloadTokenCheck, { ok: true }>): Presented {
  if ("method" in check) {
    const { claims } = check;
    return { iss: check.attester, seq: check.seq, stage: null, type: WORKLOAD_TOKEN_TYPE, jti: claims.jti, iat: claims.iat, nbf: claims.nbf, exp: claims.exp, attestation: claims };
  }
  const { claims } = check;
  return { iss: claims.iss, seq: claims.seq, stage: claims.stage, type: claims.type, jti: claims.jti, iat: claims.iat, nbf: undefined, exp: claims.exp, attestation: claims };
}

/** An attestation (or a workload token) towards the pending gate: it fills the first requirement it meets. */
export function decideEvidence(context: DecisionContext, request: RequestOf<"evidence">): Outcome {
  const { state } = context;
  const check = request.attestation;
  if (!check.ok) return deny("EVIDENCE_INVALID", check.message);
  const claims = presented(check);
  const pending = pendingGate(context, "attestation", claims);
  if ("outcome" in pending) return pending.outcome;
  const { gate } = pending;

  const candidates = gateProgress(gate, state)
    .attestations.map(({ compiled, satisfied }, index) => ({ compiled, satisfied, index }))
    .filter(({ compiled }) => compiled.requirement.issuer === claims.iss && compiled.requirement.type === claims.type);
  if (candidates.length === 0) {
    return deny("EVIDENCE_INVALID", `the gate does not take ${claims.type} from ${claims.iss}`, {
      expected: gate.attestations.map(({ requirement }) => ({ issuer: requirement.issuer, type: requirement.type })),
    });
  }

  let failure: Outcome | null = null;
  // Prefer a requirement not yet met, so two attestations of one type can fill two slots.
  candidates.sort((a, b) => Number(a.satisfied) - Number(b.satisfied));
  for (const { compiled, index } of candidates) {
    const problem = evidenceProblem(context, compiled, claims);
    if (problem) {
      failure ??= problem;
      continue;
    }
    const accepted: AcceptedEvidence = { requirement: index, iss: claims.iss, type: claims.type, jti: claims.jti, digest: check.digest };
    const effects: Effect[] = [
      { type: "spend", kind: "attestation", jti: claims.jti },
      { type: "accept_evidence", evidence: accepted },
    ];
    const after = withState(context, { ...state, evidence: [...state.evidence, accepted] });
    return gateOutcome(after, gate, { effects, fresh: request.fresh, what: `${claims.type} accepted`, signals: request.signals });
  }
  return failure ?? deny("EVIDENCE_INVALID", "attestation matched no requirement");
}

/** Whether evidence meets one requirement: fresh enough, already valid, not expired, its condition true. */
function evidenceProblem({ state, nowSeconds, skew }: DecisionContext, compiled: CompiledRequirement, claims: Presented): Outcome | null {
  const { requirement, where } = compiled;
  if (claims.iat - skew > nowSeconds) return deny("EVIDENCE_STALE", "attestation is issued in the future", { iat: claims.iat });
  if (nowSeconds - claims.iat > requirement.max_age_seconds + skew) {
    return deny("EVIDENCE_STALE", `attestation is older than ${requirement.max_age_seconds}s`, { iat: claims.iat });
  }
  if (claims.nbf !== undefined && claims.nbf - skew > nowSeconds) return deny("EVIDENCE_STALE", "attestation is not valid yet", { nbf: claims.nbf });
  if (claims.exp !== undefined && claims.exp + skew <= nowSeconds) {
    return deny("EVIDENCE_STALE", "attestation has expired", { exp: claims.exp });
  }
  if (where) {
    const result = where.evaluate({ attestation: claims.attestation, params: state.record.params });
    if (!result.ok) return deny("CONDITION_FAILED", result.message, { condition: where.source, reason: result.reason });
  }
  return null;
}
