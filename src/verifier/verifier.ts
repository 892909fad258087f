import { z } from "zod";
import { REASON_STATUS, type ReasonCode } from "../errors.js";
import { CLOCK_SKEW_MAX_SECONDS } from "../limits.js";
import { compileCondition } from "../policy/cel.js";
import type { OfflineRefusalCode } from "../policy/offline-refusals.js";
import { type Refusal, capabilityProblem, conditionProblem, grantsForAction } from "../policy/presentation.js";
import type { AuthorizationDetail, CapabilityClaims } from "../policy/types.js";
import { CapabilityClaimsSchema } from "../tokens/capability.js";
import { sha256 } from "../tokens/digest.js";
import { checkDpopProof } from "../tokens/dpop.js";
import { verifyJws } from "../tokens/jws.js";
import { SIGNING_ALGORITHM, TYP } from "../tokens/kinds.js";
import { VerifierError } from "./errors.js";
import { type KeySource, remoteKeySet, staticKeySet } from "./jwks.js";

/** What the verifier reads of a refusal's receipt: whose it is, and the stage it was decided in. */
const ReceiptStageSchema = z.looseObject({ iss: z.string(), stage: z.string() });

export interface VerifierOptions {
  /** Baton's `iss`, e.g. `https://baton.example.com`. Checked on every token. */
  issuer: string;
  /** This tool's id: the capability's `aud` must contain it. Required; there is no way to skip it. */
  audience: string;
  /** Where Baton answers, when it differs from `issuer` (default: `issuer`). */
  baseUrl?: string;
  /**
   * This tool's API key (role `tool:<audience>`), for `redeem`, `authorize` and `reportOutcome`.
   * Without it the verifier only verifies offline: those calls throw TOOL_CREDENTIAL_MISSING,
   * and `requireCapability` / `guardMcpServer` refuse it when they are set up.
   */
  apiKey?: string;
  /** Pin the issuer's keys instead of fetching `/.well-known/jwks.json`. */
  jwks?: { keys: import("jose").JWK[] };
  /** Tolerance on exp/nbf/iat in seconds (default and maximum 5). */
  clockSkewSeconds?: number;
  fetch?: typeof fetch;
  /** Milliseconds since the epoch (tests). */
  now?: () => number;
}

/** What the tool is asked to do: the action and its arguments, checked against the grant. */
export interface ActionRequest {
  action: string;
  args?: Record<string, unknown>;
  /** The agent's DPoP proof with this request's method and URL; required by bound capabilities. */
  dpop?: { proof: string; htm: string; htu: string };
}

export interface VerifiedCapability {
  token: string;
  claims: CapabilityClaims;
  /** The grant (RFC 9396 authorization detail) that allows the action. */
  grant: AuthorizationDetail;
  action: string;
  args: Record<string, unknown>;
}

export interface Authorized {
  capability: VerifiedCapability;
  /** Baton's signed receipt of the ALLOW, written before the action runs. */
  receipt: string;
  /** Whether this use sealed the sequence. */
  sealed: boolean;
}

export type Outcome = "succeeded" | "failed" | "unknown";

export interface Verifier {
  /** Whether it can call the gate (it has an `apiKey`); `verify()` works either way. */
  readonly online: boolean;
  /** Offline: signature (JWKS), typ, iss, aud, time, action, `where` on the args, DPoP proof. Throws VerifierError. */
  verify(token: string, request: ActionRequest): Promise<VerifiedCapability>;
  /**
   * Offline, at the door of a resource (the MCP endpoint guard): the capability alone —
   * signature, typ, iss, aud, time, and the DPoP proof of a bound one — and, given an
   * `action`, that its stage grants it, without the grant's `where` (the arguments are
   * judged by `authorize`, with the values the tool will act on). Never spends the use.
   * With an `action`, a refusal of a genuine capability is reported to the gate, which
   * receipts it, as `authorize` does; without one nothing is reported. Throws VerifierError.
   */
  screen(token: string, request?: Partial<ActionRequest>): Promise<CapabilityClaims>;
  /** Online: the gate — one-time use, stage still current, not sealed. Returns the ALLOW receipt. */
  redeem(token: string, request: ActionRequest): Promise<{ receipt: string; sealed: boolean }>;
  /**
   * verify, then redeem: the one call most tool servers need. An offline refusal of a
   * capability whose signature verified is reported to the gate, which receipts it
   * (the thrown VerifierError carries that receipt); junk is refused without a call.
   */
  authorize(token: string, request: ActionRequest): Promise<Authorized>;
  /** After acting: report what happened to the redeemed action; Baton receipts it. */
  reportOutcome(receipt: string, outcome: Outcome, detail?: string): Promise<{ receipt: string }>;
}

/**
 * A tool server's verifier. Web-standard APIs only (fetch, WebCrypto), so the same
 * code runs in a Worker and on Node ≥ 20.
 */
export function createVerifier(options: VerifierOptions): Verifier {
  if (!options.issuer) throw new TypeError("createVerifier: issuer is required");
  if (!options.audience) throw new TypeError("createVerifier: audience is required (the tool's id)");
  const doFetch = options.fetch ?? ((input, init) => fetch(input, init));
  const now = options.now ?? Date.now;
  const skew = Math.min(Math.max(options.clockSkewSeconds ?? CLOCK_SKEW_MAX_SECONDS, 0), CLOCK_SKEW_MAX_SECONDS);
  const base = (options.baseUrl ?? options.issuer).replace(/\/+$/, "");
  const keys: KeySource = options.jwks
    ? staticKeySet(options.jwks)
    : remoteKeySet(`${base}/.well-known/jwks.json`, { fetch: doFetch, now });
  const conditions = new Map<string, ReturnType<typeof compileCondition>>();
  const clock = () => ({ nowSeconds: now() / 1000, skew });

  /** Refusals of a capability whose signature verified: reported to the gate by `authorize` and `screen`. */
  const genuine = new WeakSet<VerifierError>();
  const refuse = ({ code, message, details }: Refusal<OfflineRefusalCode>): VerifierError => {
    const error = new VerifierError(code, message, details === undefined ? {} : { details });
    genuine.add(error);
    return error;
  };

  /** The capability as presented: its signature (JWKS), typ, iss, aud, time, and the DPoP proof of a bound one. */
  async function presented(token: string, request: Partial<ActionRequest>): Promise<CapabilityClaims> {
    const jws = await verifyJws(token, { typ: TYP.capability, algorithms: [SIGNING_ALGORITHM], resolveKey: (kid) => keys.key(kid) });
    if (!jws.ok) throw new VerifierError("TOKEN_INVALID", jws.message);
    const parsed = CapabilityClaimsSchema.safeParse(jws.payload);
    if (!parsed.success) throw new VerifierError("TOKEN_INVALID", "capability claims are malformed", { details: parsed.error.issues });
    const claims = parsed.data;
    if (claims.iss !== options.issuer) throw new VerifierError("TOKEN_INVALID", `issuer ${claims.iss} is not ${options.issuer}`);
    // From here on the capability is Baton's: the gate's own checks (policy/presentation.ts)
    // run in the gate's order (audience, DPoP, time, scope, conditions), so both give the same first code.
    const bound = claims.cnf !== undefined;
    const dpop = bound && request.dpop ? { ...request.dpop, proof: await checkDpopProof(request.dpop.proof) } : undefined;
    const presentation = { audience: options.audience, audienceName: options.audience, dpop, tokenDigest: bound ? await sha256(token) : "" };
    const unusable = capabilityProblem(claims, presentation, clock());
    if (unusable) throw refuse(unusable);
    return claims;
  }

  /** The grant of the capability's stage that gives this tool the action, or why none does. */
  function grantFor(claims: CapabilityClaims, action: string): AuthorizationDetail {
    const asked = { tool: options.audience, action, stage: claims.stage };
    // The capability names what the workflow's other stages grant its tools.
    const scoped = grantsForAction(claims.authorization_details, asked, () => [
      ...new Set((claims.other_stages ?? []).filter((g) => g.tool === options.audience && g.actions.includes(action)).map((g) => g.stage)),
    ]);
    if ("refusal" in scoped) throw refuse(scoped.refusal);
    return scoped.matching[0];
  }

  async function verify(token: string, request: ActionRequest): Promise<VerifiedCapability> {
    const claims = await presented(token, request);
    const grant = grantFor(claims, request.action);
    const args = request.args ?? {};
    if (grant.where) {
      let condition = conditions.get(grant.where);
      if (!condition) {
        condition = compileCondition(grant.where);
        conditions.set(grant.where, condition);
      }
      const unmet = conditionProblem(condition, { args, params: claims.params ?? {} });
      if (unmet) throw refuse(unmet);
    }
    return { token, claims, grant, action: request.action, args };
  }

  /**
   * The sequence's current stage as the signed receipt of a refusal records it; null when
   * the receipt does not verify as one of this Baton's (the refusal stands either way).
   */
  async function stageOf(receipt: string): Promise<string | null> {
    const jws = await verifyJws(receipt, { typ: TYP.receipt, algorithms: [SIGNING_ALGORITHM], resolveKey: (kid) => keys.key(kid) }).catch(() => null);
    const claims = jws?.ok ? ReceiptStageSchema.safeParse(jws.payload) : undefined;
    return claims?.success && claims.data.iss === options.issuer && claims.data.stage ? claims.data.stage : null;
  }

  /**
   * Sends an offline refusal of a genuine capability to the gate, which receipts it
   * as a DENY with the same code (never a use, never an ALLOW), and returns the
   * refusal with that receipt. When it cannot be receipted (Baton unreachable, the
   * sequence sealed, ...) the offline refusal stands, with `receipt: null` and the
   * reason as its `cause`.
   */
  async function reported(token: string, request: ActionRequest, refusal: VerifierError): Promise<VerifierError> {
    let problem: unknown = new Error("the gate answered a refusal report without a receipt");
    try {
      await call("/v1/redeem", {
        token,
        action: request.action,
        args: request.args ?? {},
        ...(request.dpop ? { dpop: request.dpop } : {}),
        refused: { code: refusal.code, message: refusal.message.slice(0, 500) },
      });
    } catch (error) {
      if (error instanceof VerifierError && error.code === refusal.code && error.receipt) {
        return new VerifierError(refusal.code, refusal.message, { details: refusal.details, receipt: error.receipt, currentStage: error.currentStage });
      }
      problem = error;
    }
    return new VerifierError(refusal.code, refusal.message, { details: refusal.details, cause: problem });
  }

  async function call(path: string, body: unknown): Promise<Record<string, unknown>> {
    if (!options.apiKey) {
      throw new VerifierError("TOOL_CREDENTIAL_MISSING", `this tool server has no Baton API key (createVerifier's apiKey, role tool:${options.audience}): it cannot call the gate`);
    }
    let response: Response;
    try {
      response = await doFetch(`${base}${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${options.apiKey}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    } catch (error) {
      throw new VerifierError("ISSUER_UNAVAILABLE", `cannot reach Baton at ${base}`, { cause: error });
    }
    let json: Record<string, unknown> & { error?: { code?: unknown; message?: string; details?: unknown; receipt?: string | null } };
    try {
      json = (await response.json()) as typeof json;
    } catch (error) {
      throw new VerifierError("ISSUER_UNAVAILABLE", `Baton answered ${response.status} without JSON`, { cause: error });
    }
    if (!response.ok) {
      const e = json.error ?? {};
      if (typeof e.code !== "string" || !(e.code in REASON_STATUS) || e.code === "INTERNAL") {
        throw new VerifierError("ISSUER_UNAVAILABLE", `Baton answered ${response.status}: ${e.message ?? "error"}`);
      }
      // Baton refused the tool's own credential, not the agent's capability: say so, or the
      // agent reads "a valid API key is required" as being about itself.
      if (e.code === "UNAUTHENTICATED" || (e.code === "FORBIDDEN" && path === "/v1/redeem")) {
        throw new VerifierError("TOOL_CREDENTIAL_REFUSED", `Baton refused this tool server's own API key (${e.code}: ${e.message ?? ""}); the capability was not judged`);
      }
      const receipt = typeof e.receipt === "string" ? e.receipt : null;
      throw new VerifierError(e.code as ReasonCode, e.message ?? e.code, { details: e.details, receipt, currentStage: receipt && (await stageOf(receipt)) });
    }
    return json;
  }

  async function redeem(token: string, request: ActionRequest) {
    const body = await call("/v1/redeem", { token, action: request.action, args: request.args ?? {}, ...(request.dpop ? { dpop: request.dpop } : {}) });
    if (body.decision !== "ALLOW" || typeof body.receipt !== "string") {
      throw new VerifierError("ISSUER_UNAVAILABLE", "the gate's answer is not an ALLOW with a receipt");
    }
    return { receipt: body.receipt, sealed: body.sealed === true };
  }

  return {
    online: Boolean(options.apiKey),
    verify,
    redeem,
    async screen(token, request = {}) {
      try {
        const claims = await presented(token, request);
        if (request.action !== undefined) grantFor(claims, request.action);
        return claims;
      } catch (error) {
        const { action } = request;
        if (action !== undefined && error instanceof VerifierError && genuine.has(error) && options.apiKey) {
          throw await reported(token, { ...request, action }, error);
        }
        throw error;
      }
    },
    async authorize(token, request) {
      // Offline first: a token that cannot be right never costs a use. Junk (bad
      // signature, unknown key, oversize) is refused without a call; a genuine
      // capability refused here is reported, so the sequence's chain holds the attempt.
      let capability: VerifiedCapability;
      try {
        capability = await verify(token, request);
      } catch (error) {
        if (error instanceof VerifierError && genuine.has(error) && options.apiKey) throw await reported(token, request, error);
        throw error;
      }
      const { receipt, sealed } = await redeem(token, request);
      return { capability, receipt, sealed };
    },
    async reportOutcome(receipt, outcome, detail) {
      const body = await call("/v1/outcomes", { receipt, outcome, ...(detail ? { detail } : {}) });
      return { receipt: String(body.receipt) };
    },
  };
}
