/**
 * One explicit `typ` per token kind (RFC 8725 §3.11), checked on every verify,
 * so no kind can be presented as another.
 */
export const TYP = {
  capability: "baton-capability+jwt",
  attestation: "baton-attestation+jwt",
  approval: "baton-approval+jwt",
  receipt: "baton-receipt+jwt",
  head: "baton-head+jwt",
  signal: "baton-signal+jwt",
  /** An entry of the approver directory's log: a passkey registered or revoked. */
  credentialLog: "baton-credential-log+jwt",
  /** A webhook notification (escalated, sealed, revoked, signal). */
  event: "baton-event+jwt",
} as const;

/** RFC 9449 §4.2: the `typ` of a DPoP proof (the agent's, not a Baton token kind). */
export const DPOP_TYP = "dpop+jwt";

/** Never `none`, never HS*: everything Baton signs is verified by third parties. */
export const SIGNING_ALGORITHM = "EdDSA";
/** What Baton accepts from attesters. */
export const EVIDENCE_ALGORITHMS = ["EdDSA", "ES256"] as const;
/**
 * What an agent may sign DPoP proofs with: the evidence algorithms, and `Ed25519`, RFC 9864's
 * fully-specified name for EdDSA over Ed25519, which current clients (oauth4webapi) sign with.
 */
export const DPOP_ALGORITHMS = ["EdDSA", "Ed25519", "ES256"] as const;

/** The `type` a gate names for a workload token (tokens/workload-token.ts): it attests the identity of the job that asked for it. */
export const WORKLOAD_TOKEN_TYPE = "workload_identity";
