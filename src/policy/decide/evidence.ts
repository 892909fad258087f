import type { CompiledRequirement, CompiledWorkflow } from "../compile.js";
import type { AcceptedEvidence, AttestationClaims, Effect, LedgerRequest, LedgerState, Outcome } from "../types.js";
import { gateOutcome, pendingGate } from "./gate.js";
import { deny } from "./verdicts.js";

export function decideEvidence(
  workflow: CompiledWorkflow,
  state: LedgerState,
  request: Extract<LedgerRequest, { kind: "evidence" }>,
  now: number,
): Outcome {
  const check = request.attestation;
  if (!check.ok) return deny("EVIDENCE_INVALID", check.message);
  const claims = check.claims;
  const pending = pendingGate(workflow, state, "attestation", claims);
  if ("outcome" in pending) return pending.outcome;
  const { gate } = pending;

  const candidates = gate.attestations
    .map((compiled, index) => ({ compiled, index }))
    .filter(({ compiled }) => compiled.requirement.issuer === claims.iss && compiled.requirement.type === claims.type);
  if (candidates.length === 0) {
    return deny("EVIDENCE_INVALID", `the gate does not take ${claims.type} from ${claims.iss}`, {
      expected: gate.attestations.map(({ requirement }) => ({ issuer: requirement.issuer, type: requirement.type })),
    });
  }

  const skew = workflow.definition.clock_skew_seconds;
  const nowSeconds = now / 1000;
  let failure: Outcome | null = null;
  const satisfied = new Set(state.evidence.map((e) => e.requirement));
  // Prefer a requirement not yet met, so two attestations of one type can fill two slots.
  candidates.sort((a, b) => Number(satisfied.has(a.index)) - Number(satisfied.has(b.index)));
  for (const { compiled, index } of candidates) {
    const problem = evidenceProblem(compiled, claims, state.record.params, nowSeconds, skew);
    if (problem) {
      failure ??= problem;
      continue;
    }
    const accepted: AcceptedEvidence = { requirement: index, iss: claims.iss, type: claims.type, jti: claims.jti, digest: check.digest };
    const effects: Effect[] = [
      { type: "spend", kind: "attestation", jti: claims.jti },
      { type: "accept_evidence", evidence: accepted },
    ];
    return gateOutcome(workflow, { ...state, evidence: [...state.evidence, accepted] }, gate, effects, request.fresh, now, `${claims.type} accepted`, request.signals);
  }
  return failure ?? deny("EVIDENCE_INVALID", "attestation matched no requirement");
}

export function evidenceProblem(
  compiled: CompiledRequirement,
  claims: AttestationClaims,
  params: Record<string, unknown>,
  nowSeconds: number,
  skew: number,
): Outcome | null {
  const { requirement, where } = compiled;
  if (claims.iat - skew > nowSeconds) return deny("EVIDENCE_STALE", "attestation is issued in the future", { iat: claims.iat });
  if (nowSeconds - claims.iat > requirement.max_age_seconds + skew) {
    return deny("EVIDENCE_STALE", `attestation is older than ${requirement.max_age_seconds}s`, { iat: claims.iat });
  }
  if (claims.exp !== undefined && claims.exp + skew <= nowSeconds) {
    return deny("EVIDENCE_STALE", "attestation has expired", { exp: claims.exp });
  }
  if (where) {
    const result = where.evaluate({ attestation: claims, params });
    if (!result.ok) return deny("CONDITION_FAILED", result.message, { condition: where.source, reason: result.reason });
  }
  return null;
}
