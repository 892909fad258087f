import { SignJWT, importJWK, type JWK } from "jose";
import type { z } from "zod";
import type {
  ApprovalBody,
  DecisionSchema,
  DelegateBody,
  EvidenceBody,
  OutcomeBody,
  RedeemBody,
  SequenceSchema,
  StartSequenceBody,
} from "../api/schemas.js";
import { TYP } from "../tokens/kinds.js";

/**
 * A typed client for Baton's HTTP API, for orchestrators, agents, attesters,
 * tools and auditors. Its input types are the server's own zod schemas
 * (src/api/schemas.ts), so a change of the API breaks the client's build rather
 * than its users. (Hono's `hc` would need the app's routes chained into one type;
 * ours are registered by separate functions through @hono/zod-openapi, so the
 * schemas are the single source both sides share.) Web-standard fetch only.
 */
export type Decision = z.output<typeof DecisionSchema>;
export type SequenceState = z.output<typeof SequenceSchema>;

export interface ClientOptions {
  baseUrl: string;
  apiKey: string;
  fetch?: typeof fetch;
}

/** A refusal: Baton's code, HTTP status, details and the signed receipt when the ledger decided it. */
export class BatonClientError extends Error {
  override readonly name = "BatonClientError";
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly details: unknown,
    readonly receipt: string | null,
  ) {
    super(`${code}: ${message}`);
  }
}

/** What an attester signs: who it is, the sequence and stage it speaks for, and what it saw. */
export interface AttestationInput {
  privateJwk: JWK;
  attester: string;
  seq: string;
  stage: string;
  type: string;
  facts?: Record<string, unknown>;
  iat?: number;
  jti?: string;
}

/** Signs an attestation with the attester's own key (its kid and alg come from the JWK); needs no Baton. */
export async function signAttestation(input: AttestationInput): Promise<string> {
  const { privateJwk } = input;
  if (!privateJwk.kid || !privateJwk.alg) throw new TypeError("the attester's JWK needs kid and alg");
  return new SignJWT({ seq: input.seq, stage: input.stage, type: input.type, facts: input.facts ?? {} })
    .setProtectedHeader({ alg: privateJwk.alg, typ: TYP.attestation, kid: privateJwk.kid })
    .setIssuer(input.attester)
    .setIssuedAt(input.iat ?? Math.floor(Date.now() / 1000))
    .setJti(input.jti ?? crypto.randomUUID())
    .sign(await importJWK(privateJwk, privateJwk.alg));
}

export function createClient(options: ClientOptions) {
  const base = options.baseUrl.replace(/\/+$/, "");
  const doFetch = options.fetch ?? ((input, init) => fetch(input, init));

  async function request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    const response = await doFetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${options.apiKey}`, ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) {
      const text = await response.text();
      let error: { code?: string; message?: string; details?: unknown; receipt?: string | null } = {};
      try {
        error = (JSON.parse(text) as { error?: typeof error }).error ?? {};
      } catch {
        // not JSON: reported below
      }
      throw new BatonClientError(error.code ?? "HTTP_ERROR", error.message ?? text.slice(0, 200), response.status, error.details, error.receipt ?? null);
    }
    return response;
  }
  const json = async <T>(method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
    (await (await request(method, path, body, headers)).json()) as T;
  const decision = (method: string, path: string, body?: unknown, headers?: Record<string, string>) => json<Decision>(method, path, body, headers);
  const sequencePath = (seq: string) => `/v1/sequences/${encodeURIComponent(seq)}`;
  const idempotent = (key?: string): Record<string, string> => (key ? { "idempotency-key": key } : {});

  return {
    jwks: () => json<{ keys: JWK[] }>("GET", "/.well-known/jwks.json"),
    orchestrator: {
      start: (body: z.input<typeof StartSequenceBody>, opts: { idempotencyKey?: string } = {}) =>
        decision("POST", "/v1/sequences", body, idempotent(opts.idempotencyKey)),
      revoke: (seq: string, reason?: string) => decision("POST", `${sequencePath(seq)}/revoke`, reason ? { reason } : {}),
      status: (seq: string) => json<SequenceState>("GET", sequencePath(seq)),
    },
    agent: {
      capability: (seq: string, opts: { idempotencyKey?: string } = {}) => decision("POST", `${sequencePath(seq)}/capability`, undefined, idempotent(opts.idempotencyKey)),
      submitEvidence: (seq: string, attestation: z.input<typeof EvidenceBody>["attestation"], opts: { idempotencyKey?: string } = {}) =>
        decision("POST", `${sequencePath(seq)}/evidence`, { attestation }, idempotent(opts.idempotencyKey)),
      /** Starts a child sequence for a sub-agent; `dpop` is the delegating agent's proof when its capability is bound. */
      delegate: (seq: string, body: z.input<typeof DelegateBody>, opts: { dpop?: string } = {}) =>
        decision("POST", `${sequencePath(seq)}/delegations`, body, opts.dpop ? { dpop: opts.dpop } : {}),
    },
    attester: {
      signAttestation,
      submit: (seq: string, attestation: z.input<typeof EvidenceBody>["attestation"], opts: { idempotencyKey?: string } = {}) =>
        decision("POST", `${sequencePath(seq)}/evidence`, { attestation }, idempotent(opts.idempotencyKey)),
    },
    approver: {
      submit: (seq: string, approval: Extract<z.input<typeof ApprovalBody>, { approval: unknown }>["approval"], opts: { idempotencyKey?: string } = {}) =>
        decision("POST", `${sequencePath(seq)}/approvals`, { approval }, idempotent(opts.idempotencyKey)),
    },
    tool: {
      redeem: (body: z.input<typeof RedeemBody>) => decision("POST", "/v1/redeem", body),
      reportOutcome: (body: z.input<typeof OutcomeBody>) => decision("POST", "/v1/outcomes", body),
    },
    auditor: {
      status: (seq: string) => json<SequenceState>("GET", sequencePath(seq)),
      /** The chain as compact JWS strings, oldest first (the export is one compact JWS per line). */
      receipts: async (seq: string, after = -1) =>
        (await (await request("GET", `${sequencePath(seq)}/receipts?after=${after}`)).text()).split("\n").filter((line) => line.length > 0),
    },
  };
}

export type BatonClient = ReturnType<typeof createClient>;
