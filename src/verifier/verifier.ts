import { decodeProtectedHeader } from "jose";
import { REASON_STATUS, type ReasonCode } from "../errors.js";
import { CLOCK_SKEW_MAX_SECONDS, DPOP_PROOF_MAX_AGE_SECONDS } from "../limits.js";
import { compileCondition } from "../policy/cel.js";
import type { AuthorizationDetail, CapabilityClaims } from "../policy/types.js";
import { CapabilityClaimsSchema } from "../tokens/capability.js";
import { sha256 } from "../tokens/digest.js";
import { checkDpopProof, dpopProblem } from "../tokens/dpop.js";
import { verifyJws } from "../tokens/jws.js";
import { SIGNING_ALGORITHM, TYP } from "../tokens/kinds.js";
import { VerifierError } from "./errors.js";
import { type KeySource, remoteKeySet, staticKeySet } from "./jwks.js";

export interface VerifierOptions {
  /** Baton's `iss`, e.g. `https://baton.example.com`. Checked on every token. */
  issuer: string;
  /** This tool's id: the capability's `aud` must contain it. Required; there is no way to skip it. */
  audience: string;
  /** Where Baton answers, when it differs from `issuer` (default: `issuer`). */
  baseUrl?: string;
  /** This tool's API key (role `tool:<audience>`), for `redeem`, `authorize` and `reportOutcome`. */
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
  /** Offline: signature (JWKS), typ, iss, aud, time, action, `where` on the args, DPoP proof. Throws VerifierError. */
  verify(token: string, request: ActionRequest): Promise<VerifiedCapability>;
  /** Online: the gate — one-time use, stage still current, not sealed. Returns the ALLOW receipt. */
  redeem(token: string, request: ActionRequest): Promise<{ receipt: string; sealed: boolean }>;
  /** verify, then redeem: the one call most tool servers need. */
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

  async function verify(token: string, request: ActionRequest): Promise<VerifiedCapability> {
    let kid: unknown;
    try {
      kid = decodeProtectedHeader(token).kid;
    } catch {
      throw new VerifierError("TOKEN_INVALID", "not a JWS");
    }
    const key = typeof kid === "string" ? await keys.key(kid) : undefined;
    const jws = await verifyJws(token, { typ: TYP.capability, algorithms: [SIGNING_ALGORITHM], resolveKey: () => key });
    if (!jws.ok) throw new VerifierError("TOKEN_INVALID", jws.message);
    const parsed = CapabilityClaimsSchema.safeParse(jws.payload);
    if (!parsed.success) throw new VerifierError("TOKEN_INVALID", "capability claims are malformed", { details: parsed.error.issues });
    const claims = parsed.data;
    if (claims.iss !== options.issuer) throw new VerifierError("TOKEN_INVALID", `issuer ${claims.iss} is not ${options.issuer}`);
    if (!claims.aud.includes(options.audience)) {
      throw new VerifierError("AUDIENCE_MISMATCH", `capability is not addressed to ${options.audience}`, { details: { aud: claims.aud } });
    }
    const seconds = now() / 1000;
    if (claims.exp + skew <= seconds) throw new VerifierError("TOKEN_EXPIRED", "capability has expired");
    if (claims.nbf - skew > seconds) throw new VerifierError("TOKEN_INVALID", "capability is not valid yet");
    if (claims.iat - skew > seconds) throw new VerifierError("TOKEN_INVALID", "capability is issued in the future");

    const args = request.args ?? {};
    const grant = claims.authorization_details.find((d) => d.tool === options.audience && d.actions.includes(request.action));
    if (!grant) throw new VerifierError("SCOPE_EXCEEDED", `action ${request.action} is not granted to ${options.audience}`);
    if (grant.where) {
      let condition = conditions.get(grant.where);
      if (!condition) {
        condition = compileCondition(grant.where);
        conditions.set(grant.where, condition);
      }
      const result = condition.evaluate({ args, params: claims.params ?? {} });
      if (!result.ok) throw new VerifierError("CONDITION_FAILED", result.message, { details: { condition: grant.where } });
    }
    if (claims.cnf) await checkProof(claims.cnf.jkt, token, request, seconds);
    return { token, claims, grant, action: request.action, args };
  }

  async function checkProof(jkt: string, token: string, request: ActionRequest, seconds: number): Promise<void> {
    if (!request.dpop) throw new VerifierError("TOKEN_INVALID", "capability is sender-constrained: a DPoP proof is required");
    const proof = await checkDpopProof(request.dpop.proof);
    if (!proof.ok) throw new VerifierError("TOKEN_INVALID", `DPoP proof rejected: ${proof.message}`);
    const expected = { jkt, htm: request.dpop.htm, htu: request.dpop.htu, ath: await sha256(token) };
    const problem = dpopProblem(proof, expected, seconds, skew, DPOP_PROOF_MAX_AGE_SECONDS);
    if (problem) throw new VerifierError("TOKEN_INVALID", `DPoP proof rejected: ${problem}`);
  }

  async function call(path: string, body: unknown): Promise<Record<string, unknown>> {
    if (!options.apiKey) throw new TypeError("createVerifier: apiKey (the tool's credential) is required to call the gate");
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
      throw new VerifierError(e.code as ReasonCode, e.message ?? e.code, { details: e.details, receipt: e.receipt ?? null });
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
    verify,
    redeem,
    async authorize(token, request) {
      // Offline first: a token that cannot be right never costs a round trip (or a use).
      const capability = await verify(token, request);
      const { receipt, sealed } = await redeem(token, request);
      return { capability, receipt, sealed };
    },
    async reportOutcome(receipt, outcome, detail) {
      const body = await call("/v1/outcomes", { receipt, outcome, ...(detail ? { detail } : {}) });
      return { receipt: String(body.receipt) };
    },
  };
}
