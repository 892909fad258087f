/**
 * Baton's verifier for tool servers: `import { createVerifier } from "baton/verifier"`.
 * Offline JWKS verification plus the online gate; a Hono middleware; outcome reports.
 */
export { VerifierError, type VerifierCode } from "./errors.js";
export { clearKeyCache } from "./jwks.js";
export { createVerifier, type ActionRequest, type Authorized, type Outcome, type Verifier, type VerifierOptions, type VerifiedCapability } from "./verifier.js";
export { requireCapability, type CapabilityVariables, type RequireCapabilityOptions } from "./hono.js";
export { createDpopProof } from "../tokens/dpop.js";
