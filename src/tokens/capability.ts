import { z } from "zod";
import { DELEGATION_MAX_DEPTH } from "../limits.js";
import { sha256 } from "./digest.js";
import { verifyJws } from "./jws.js";
import type { Keyring } from "./keys.js";
import { SIGNING_ALGORITHM, TYP } from "./kinds.js";

const Seconds = z.int().nonnegative();
const Id = z.string().min(1).max(256);

/** RFC 9396 authorization detail of one grant. */
const AuthorizationDetailSchema = z.object({
  type: z.literal("baton_tool"),
  tool: Id,
  actions: z.array(z.string()),
  where: z.string().optional(),
  uses: z.int().positive(),
  sum: z.object({ arg: z.string(), max: z.union([z.number(), z.string()]) }).optional(),
});
export type AuthorizationDetail = z.infer<typeof AuthorizationDetailSchema>;

/** A grant of another stage than the capability's, to one of its tools: where an action belongs. */
const OtherStageGrantSchema = z.object({ stage: Id, tool: Id, actions: z.array(z.string()) });
export type OtherStageGrant = z.infer<typeof OtherStageGrantSchema>;

/** RFC 8693 §4.1 actor claim: who acts, and on whose behalf they in turn act. */
export interface Act {
  sub: string;
  act?: Act;
}

/**
 * RFC 8693 `act`, nested at most `depth` deep, spelled out level by level: the innermost
 * may not nest further. (A z.lazy schema with a depth refinement parsed every capability's
 * claims a third slower, on the verifier's hot path.)
 */
function boundedAct(depth: number): z.ZodType<Act> {
  const inner = depth > 1 ? boundedAct(depth - 1) : z.never({ error: "act is nested too deep" });
  return z.object({ sub: Id, act: inner.optional() });
}
const BoundedAct = boundedAct(DELEGATION_MAX_DEPTH);

/** How many actors the chain names: 1 for `{sub}`, 2 for `{sub, act: {sub}}`. */
export function actDepth(act: Act): number {
  let depth = 1;
  for (let inner = act.act; inner; inner = inner.act) depth++;
  return depth;
}

/** The claims of a Baton capability (DESIGN.md, "Token formats"). */
export const CapabilityClaimsSchema = z.object({
  iss: Id,
  sub: Id,
  act: BoundedAct,
  aud: z.array(Id).min(1),
  iat: Seconds,
  nbf: Seconds,
  exp: Seconds,
  jti: Id,
  seq: Id,
  stage: Id,
  workflow: Id,
  receipt: Id,
  authorization_details: z.array(AuthorizationDetailSchema),
  /** What the workflow's other stages grant this token's tools (SEQUENCE_VIOLATION offline). */
  other_stages: z.array(OtherStageGrantSchema).optional(),
  evidence: z
    .object({
      digest: Id,
      items: z.array(z.object({ iss: Id, type: z.string(), jti: Id })),
    })
    .nullable(),
  /** RFC 9449 / RFC 7800: the capability is bound to the key with this thumbprint. */
  cnf: z.object({ jkt: z.string().min(1).max(128) }).optional(),
  /** The sequence's parameters, so a tool can evaluate the grants' `where` offline. */
  params: z.record(z.string(), z.unknown()).optional(),
});

/** The claims of a capability whose signature, `typ` and `iss` the shell already verified. */
export type CapabilityClaims = z.infer<typeof CapabilityClaimsSchema>;

/**
 * The same capability addressed to one of its tools only (RFC 8693 audience restriction):
 * `aud`, the grants and what other stages grant narrowed to `tool`, everything else as is
 * (same `jti`, `exp`, `receipt`, binding), so the gate honours it exactly as the whole one,
 * and another tool it reaches cannot use it. Null when the capability is not for `tool`.
 * Pure; signing the narrowed claims with Baton's deterministic EdDSA key gives the same
 * bytes every time, and the whole capability itself when it names one tool only.
 */
export function narrowCapability(claims: CapabilityClaims, tool: string): CapabilityClaims | null {
  if (!claims.aud.includes(tool)) return null;
  // Spread, then overwrite: every member keeps its place, so the JSON (and the signature) is the
  // whole capability's when nothing is narrowed.
  const narrowed: CapabilityClaims = {
    ...claims,
    aud: [tool],
    authorization_details: claims.authorization_details.filter((detail) => detail.tool === tool),
  };
  const others = claims.other_stages?.filter((grant) => grant.tool === tool);
  if (others && others.length > 0) narrowed.other_stages = others;
  else delete narrowed.other_stages;
  return narrowed;
}

export function signCapability(keyring: Keyring, claims: CapabilityClaims): Promise<string> {
  return keyring.sign({ ...claims }, TYP.capability);
}

export type CapabilityCheck =
  | { ok: true; claims: CapabilityClaims; digest: string }
  | { ok: false; message: string };

/**
 * Checks what can be checked without the ledger: signature by a published Baton
 * key, `typ`, `iss` and claim shapes. Time, audience, stage and nonce are
 * `decide()`'s, so they are receipted.
 */
export async function verifyCapabilitySignature(token: unknown, keyring: Keyring, issuer: string): Promise<CapabilityCheck> {
  const jws = await verifyJws(token, {
    typ: TYP.capability,
    algorithms: [SIGNING_ALGORITHM],
    resolveKey: (kid) => keyring.publicKey(kid),
  });
  if (!jws.ok) return jws;
  const parsed = CapabilityClaimsSchema.safeParse(jws.payload);
  if (!parsed.success) return { ok: false, message: `claims are malformed: ${parsed.error.issues[0]?.message}` };
  if (parsed.data.iss !== issuer) return { ok: false, message: "issuer is not this Baton" };
  return { ok: true, claims: parsed.data, digest: await sha256(token as string) };
}
