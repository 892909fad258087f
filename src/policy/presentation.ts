import type { ReasonCode } from "../errors.js";
import { DPOP_PROOF_MAX_AGE_SECONDS } from "../limits.js";
import type { CompiledCondition } from "./cel.js";
import type { Clock } from "./clock.js";
import { dpopProblem } from "./dpop-binding.js";
import { type OfflineRefusalCode, stageSkipped } from "./offline-refusals.js";
import type { CapabilityClaims, DpopPresentation } from "./types.js";

// The checks of a capability as it is presented for an action, shared by the gate
// (`decide()`) and a tool server's offline verifier (src/verifier), so both refuse
// the same token with the same code, words and details, in the same order. Pure:
// signatures are verified before, and only the gate adds what its ledger knows.

/** Why a presentation is refused. */
export interface Refusal<Code extends ReasonCode = ReasonCode> {
  code: Code;
  message: string;
  details?: unknown;
}

/** The presentation of a capability: to whom, with which DPoP proof (its signature already checked). */
export interface Presentation {
  /** The tool the capability is presented to (Baton's own audience for a delegation). */
  audience: string;
  /** How a refusal names that audience: "tool deployer" at the gate, "deployer" in the verifier. */
  audienceName: string;
  dpop: { proof: DpopPresentation; htm: string; htu: string } | undefined;
  /** RFC 9449 `ath`: the SHA-256 of the capability as presented; read only for a bound capability. */
  tokenDigest: string;
}

/** What only the gate knows about the holder: the sequence's actor key, and the DPoP proofs already spent. */
export interface HolderRecord {
  /** The workflow is sender-constrained: it never minted an unbound capability. */
  senderConstrained: boolean;
  actorJkt: string | undefined;
  dpopSpent(jti: string): boolean;
}

type Presented = Pick<CapabilityClaims, "aud" | "cnf" | "exp" | "nbf" | "iat">;

/**
 * Whether the capability may be used by this presenter now: its audience, its
 * holder's proof of possession, and its lifetime (exp, nbf, iat within the skew).
 * Without the gate's `holder` record every refusal is one a tool can make offline.
 */
export function capabilityProblem(claims: Presented, presentation: Presentation, clock: Clock): Refusal<OfflineRefusalCode> | null;
export function capabilityProblem(claims: Presented, presentation: Presentation, clock: Clock, holder: HolderRecord): Refusal | null;
export function capabilityProblem(claims: Presented, presentation: Presentation, clock: Clock, holder?: HolderRecord): Refusal | null {
  // RFC 7519 §4.1.3: a tool must reject a token not addressed to it.
  if (!claims.aud.includes(presentation.audience)) {
    return { code: "AUDIENCE_MISMATCH", message: `capability is not addressed to ${presentation.audienceName}`, details: { aud: claims.aud } };
  }
  const unbound = bindingProblem(claims.cnf?.jkt, presentation, clock, holder);
  if (unbound) return unbound;
  const { nowSeconds, skew } = clock;
  if (claims.exp + skew <= nowSeconds) return { code: "TOKEN_EXPIRED", message: "capability has expired", details: { exp: claims.exp } };
  if (claims.nbf - skew > nowSeconds) return { code: "TOKEN_INVALID", message: "capability is not valid yet", details: { nbf: claims.nbf } };
  // Baton mints iat = nbf = now; a capability issued later than now is not one of its own.
  if (claims.iat - skew > nowSeconds) return { code: "TOKEN_INVALID", message: "capability is issued in the future", details: { iat: claims.iat } };
  return null;
}

/**
 * RFC 9449: a capability bound to a key (`cnf.jkt`) is honoured only with a fresh
 * proof of that key for this very request and token — at the gate also one-time,
 * and by the sequence's actor.
 */
function bindingProblem(bound: string | undefined, presentation: Presentation, clock: Clock, holder: HolderRecord | undefined): Refusal | null {
  if (!bound) {
    // A sender-constrained workflow never minted an unbound token; refuse one anyway.
    return holder?.senderConstrained ? invalid("capability is not bound to a key") : null;
  }
  if (holder && bound !== holder.actorJkt) return invalid("capability is bound to another key than the actor's");
  const { dpop } = presentation;
  if (!dpop) return invalid("capability is sender-constrained: a DPoP proof is required");
  if (!dpop.proof.ok) return invalid(`DPoP proof rejected: ${dpop.proof.message}`);
  const expected = { jkt: bound, htm: dpop.htm, htu: dpop.htu, ath: presentation.tokenDigest };
  const problem = dpopProblem(dpop.proof, expected, clock.nowSeconds, clock.skew, DPOP_PROOF_MAX_AGE_SECONDS);
  if (problem) return invalid(`DPoP proof rejected: ${problem}`);
  if (holder?.dpopSpent(dpop.proof.claims.jti)) return { code: "REPLAY_NONCE", message: "DPoP proof jti was already used" };
  return null;
}

/** A grant as the scope check reads it: which tool, which actions. */
export interface ScopeGrant {
  tool: string;
  actions: readonly string[];
}

/** The action asked for, by whom, in which stage. */
export interface ActionAsked {
  tool: string;
  action: string;
  stage: string;
}

/**
 * The grants of the capability's stage that give the action to the tool, in order,
 * or why none does: granted in another stage (`grantedElsewhere`, the step-order
 * attack: SEQUENCE_VIOLATION), or by no stage at all (SCOPE_EXCEEDED).
 */
export function grantsForAction<G extends ScopeGrant>(
  grants: readonly G[],
  asked: ActionAsked,
  grantedElsewhere: () => readonly string[],
): { matching: [G, ...G[]] } | { refusal: Refusal<OfflineRefusalCode> } {
  const [first, ...rest] = grants.filter((g) => g.tool === asked.tool && g.actions.includes(asked.action));
  if (first) return { matching: [first, ...rest] };
  const grantedIn = grantedElsewhere();
  if (grantedIn.length > 0) return { refusal: stageSkipped(asked.action, asked.tool, grantedIn, asked.stage) };
  return {
    refusal: {
      code: "SCOPE_EXCEEDED",
      message: `action ${asked.action} is not granted to tool ${asked.tool} in stage ${asked.stage}`,
      details: { granted: grants.filter((g) => g.tool === asked.tool).flatMap((g) => g.actions) },
    },
  };
}

/** A grant's `where` over the action's arguments and the sequence's parameters. */
export function conditionProblem(where: CompiledCondition, bindings: { args: Record<string, unknown>; params: Record<string, unknown> }): Refusal<OfflineRefusalCode> | null {
  const result = where.evaluate(bindings);
  return result.ok ? null : { code: "CONDITION_FAILED", message: result.message, details: { condition: where.source, reason: result.reason } };
}

function invalid(message: string): Refusal<"TOKEN_INVALID"> {
  return { code: "TOKEN_INVALID", message };
}
