import type { CompiledRequirement } from "../compile.js";
import { gateProgress } from "../gate-tally.js";
import type { AcceptedEvidence, AttestationClaims, Effect, Outcome } from "../types.js";
import { type DecisionContext, type RequestOf, withState } from "./context.js";
import { gateOutcome, pendingGate } from "./gate.js";
import { deny } from "./verdicts.js";

/** An attestation towards the pending gate: it fills the first requirement it meets. */
export function decideEvidence(context: DecisionContext, request: RequestOf<"evidence">): Outcome {
  const { state } = context;
  const check = request.attestation;
  if (!check.ok) return deny("EVIDENCE_INVALID", check.message);
  const claims = check.claims;
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

/** Whether an attestation meets one requirement: fresh enough, not expired, its condition true. */
function evidenceProblem({ state, nowSeconds, skew }: DecisionContext, compiled: CompiledRequirement, claims: AttestationClaims): Outcome | null {
  const { requirement, where } = compiled;
  if (claims.iat - skew > nowSeconds) return deny("EVIDENCE_STALE", "attestation is issued in the future", { iat: claims.iat });
  if (nowSeconds - claims.iat > requirement.max_age_seconds + skew) {
    return deny("EVIDENCE_STALE", `attestation is older than ${requirement.max_age_seconds}s`, { iat: claims.iat });
  }
  if (claims.exp !== undefined && claims.exp + skew <= nowSeconds) {
    return deny("EVIDENCE_STALE", "attestation has expired", { exp: claims.exp });
  }
  if (where) {
    const result = where.evaluate({ attestation: claims, params: state.record.params });
    if (!result.ok) return deny("CONDITION_FAILED", result.message, { condition: where.source, reason: result.reason });
  }
  return null;
}
