/**
 * Baton's verifier for tool servers: `import { createVerifier } from "@baton-dev/verifier"`.
 * Offline JWKS verification plus the online gate; outcome reports. The Hono middleware is
 * the `/hono` subpath and the MCP guard `/mcp`, so their frameworks stay optional peers.
 */
export { VerifierError, type VerifierCode } from "./errors.js";
export { clearKeyCache } from "./jwks.js";
export { createVerifier, type ActionRequest, type Authorized, type Outcome, type Verifier, type VerifierOptions, type VerifiedCapability } from "./verifier.js";
export { createDpopProof } from "../tokens/dpop.js";
