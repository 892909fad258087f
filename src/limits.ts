/** Every bound Baton enforces, in one place, with its unit in the name. */

/** Request bodies are refused above this size before any JSON or crypto work. */
export const BODY_MAX_BYTES = 64 * 1024;
/** A compact JWS (capability, attestation) longer than this is refused unparsed. */
export const TOKEN_MAX_BYTES = 8 * 1024;
/**
 * A receipt is checked against this instead: it carries the inputs of its decision (a
 * redeem's arguments, an attested workload token with its claims), which can pass 8 KiB.
 */
export const RECEIPT_MAX_BYTES = 256 * 1024;
/** An issuer's discovery document or JWK Set larger than this is refused (Baton's own is under 1 KiB). */
export const KEY_SET_DOCUMENT_MAX_BYTES = 64 * 1024;
/** Size of the configuration binding; a deployment with more should split it. */
export const CONFIG_MAX_BYTES = 1024 * 1024;

/** Shape of any JSON value Baton takes (args, params, facts): checked before it is used. */
export const JSON_MAX_DEPTH = 32;
export const JSON_MAX_ARRAY_ITEMS = 1024;
export const JSON_MAX_OBJECT_KEYS = 256;

/** Upper bound of any stage's capability lifetime. */
export const CAPABILITY_MAX_TTL_SECONDS = 3600;
export const CAPABILITY_DEFAULT_TTL_SECONDS = 300;
/** How many times an expired capability of one stage may be re-issued by default. */
export const CAPABILITY_DEFAULT_MAX_REISSUES = 3;
export const CAPABILITY_MAX_REISSUES = 100;

/** Default and upper bound of the accepted age of an attestation. */
export const ATTESTATION_DEFAULT_MAX_AGE_SECONDS = 600;
export const ATTESTATION_MAX_AGE_SECONDS = 86_400;

/** Default and upper bound of how long an approval counts after it was signed. */
export const APPROVAL_DEFAULT_MAX_AGE_SECONDS = 3600;
export const APPROVAL_MAX_AGE_SECONDS = 7 * 86_400;
/** Most approvals one gate can require (k of n). */
export const GATE_MAX_APPROVALS = 16;

/** A DPoP proof is accepted this long after its `iat` (RFC 9449 leaves the window to the server). */
export const DPOP_PROOF_MAX_AGE_SECONDS = 60;

/** How deep `act` may nest (RFC 8693 delegation chains): default and hard cap. */
export const DELEGATION_DEFAULT_DEPTH = 2;
export const DELEGATION_MAX_DEPTH = 4;

/** Clock skew tolerated on exp/nbf/iat; configurable down to 0, never above this. */
export const CLOCK_SKEW_MAX_SECONDS = 5;

/** Bounds on workflow contracts, so one bad configuration cannot exhaust a Worker. */
export const WORKFLOW_MAX_STAGES = 32;
export const STAGE_MAX_GRANTS = 16;
export const GATE_MAX_ATTESTATIONS = 16;
export const CEL_EXPRESSION_MAX_CHARS = 2048;
export const GRANT_MAX_USES = 10_000;
/** A grant's tool (its audience) and each of its actions, and how many actions one grant names. */
export const GRANT_AUDIENCE_MAX_CHARS = 64;
export const GRANT_ACTION_MAX_CHARS = 128;
export const GRANT_MAX_ACTIONS = 64;

/** Receipts per page when the export streams a chain. */
export const RECEIPTS_PAGE_SIZE = 500;
/** Idempotency keys: printable, bounded. */
export const IDEMPOTENCY_KEY_MAX_CHARS = 200;

/** Evaluations one AuthZEN boxcar may carry: each is a gate decision of its own, made one after another. */
export const AUTHZEN_MAX_EVALUATIONS = 32;
/** An AuthZEN PEP's X-Request-ID is answered back up to this length (printable ASCII). */
export const AUTHZEN_REQUEST_ID_MAX_CHARS = 256;
