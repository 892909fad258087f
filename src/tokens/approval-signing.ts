import { type JWK, SignJWT, exportJWK, generateKeyPair, importJWK } from "jose";
import { digestJson } from "./digest.js";
import { type EVIDENCE_ALGORITHMS, TYP } from "./kinds.js";

/**
 * What an approver's tools need — the digest of what is approved, the signing of an
 * approval, a key — here once, so the approver CLI (built, through `baton/audit`) and the
 * Worker's tests run the very same code. Web-standard APIs and jose only.
 */

/** The part of an approval subject (`next_gate.approvals.subject`) an approval names; the digest covers all of it. */
export interface ApprovalSubjectRef {
  seq: string;
  stage: string;
}

/** SHA-256 (base64url) of the RFC 8785 JSON of an approval subject, as Baton computes it. */
export function approvalDigest(subject: ApprovalSubjectRef): Promise<string> {
  return digestJson(subject);
}

export interface SignApprovalOptions {
  /** The approver's private JWK, as `approver keygen` writes it (its `approver` and `//` members are ignored). */
  privateJwk: JWK & { "//"?: string; approver?: string };
  approver: string;
  subject: ApprovalSubjectRef;
  decision?: "approve" | "reject";
  comment?: string | undefined;
  iat?: number;
  exp?: number;
  jti?: string;
}

/**
 * Signs an approval (or, with decision "reject", a rejection) of `subject` — the
 * `next_gate.approvals.subject` of `GET /v1/sequences/:id` — with the approver's
 * private JWK. The digest is computed here from the subject, never taken on trust.
 */
export async function signApproval({ privateJwk, approver, subject, decision = "approve", comment, iat, exp, jti }: SignApprovalOptions): Promise<string> {
  if (decision !== "approve" && decision !== "reject") throw new TypeError("decision is approve or reject");
  const { "//": _comment, approver: _owner, ...jwk } = privateJwk;
  const key = await importJWK(jwk, jwk.alg);
  const claims: Record<string, unknown> = { seq: subject.seq, stage: subject.stage, decision, digest: await approvalDigest(subject) };
  if (comment) claims.comment = comment;
  if (exp !== undefined) claims.exp = exp;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: jwk.alg as string, typ: TYP.approval, kid: jwk.kid as string })
    .setIssuer(approver)
    .setIssuedAt(iat ?? Math.floor(Date.now() / 1000))
    .setJti(jti ?? crypto.randomUUID())
    .sign(key);
}

/** A fresh Ed25519 key pair for an approver: the private JWK to keep, the public one for the configuration. */
export async function generateApproverKey(kid: string): Promise<{ privateJwk: JWK; publicJwk: JWK }> {
  const alg: (typeof EVIDENCE_ALGORITHMS)[number] = "EdDSA";
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  const privateJwk: JWK = { ...(await exportJWK(privateKey)), kid, alg };
  const { d: _d, ...publicJwk } = privateJwk;
  return { privateJwk, publicJwk };
}
