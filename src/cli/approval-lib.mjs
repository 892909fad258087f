// What an approver's tools need, in plain JavaScript so that the approver CLI
// (Node) and the Worker's tests (workerd) run the very same code: the digest of
// what is approved, and the signing of an approval. Web-standard APIs and jose only.
import canonicalize from "canonicalize";
import { SignJWT, base64url, exportJWK, generateKeyPair, importJWK } from "jose";

export const APPROVAL_TYP = "baton-approval+jwt";

/** SHA-256 (base64url) of the RFC 8785 JSON of an approval subject, as Baton computes it. */
export async function approvalDigest(subject) {
  const text = canonicalize(subject);
  if (text === undefined) throw new TypeError("approval subject has no JSON form");
  const hash = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return base64url.encode(new Uint8Array(hash));
}

/**
 * Signs an approval (or, with decision "reject", a rejection) of `subject` — the
 * `next_gate.approvals.subject` of `GET /v1/sequences/:id` — with the approver's
 * private JWK. The digest is computed here from the subject, never taken on trust.
 */
export async function signApproval({ privateJwk, approver, subject, decision = "approve", comment, iat, exp, jti }) {
  if (decision !== "approve" && decision !== "reject") throw new TypeError("decision is approve or reject");
  const { "//": _comment, approver: _owner, ...jwk } = privateJwk;
  const key = await importJWK(jwk, jwk.alg);
  const claims = { seq: subject.seq, stage: subject.stage, decision, digest: await approvalDigest(subject) };
  if (comment) claims.comment = comment;
  if (exp !== undefined) claims.exp = exp;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: jwk.alg, typ: APPROVAL_TYP, kid: jwk.kid })
    .setIssuer(approver)
    .setIssuedAt(iat ?? Math.floor(Date.now() / 1000))
    .setJti(jti ?? crypto.randomUUID())
    .sign(key);
}

/** A fresh Ed25519 key pair for an approver: the private JWK to keep, the public one for the configuration. */
export async function generateApproverKey(kid) {
  const { privateKey } = await generateKeyPair("EdDSA", { extractable: true });
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: "EdDSA" };
  const { d: _d, ...publicJwk } = privateJwk;
  return { privateJwk, publicJwk };
}
