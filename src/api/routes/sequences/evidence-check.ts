import type { BatonConfig } from "../../../config/load.js";
import { type AttestationCheck, checkAttestation } from "../../../tokens/attestation.js";
import { oidcIssuerKeys } from "../../../tokens/oidc-issuer.js";
import { remoteKeySet } from "../../../tokens/remote-key-set.js";
import { type WorkloadTokenCheck, checkWorkloadToken, unverifiedIssuer } from "../../../tokens/workload-token.js";

/**
 * Verifies submitted evidence before the ledger decides on it (decide() does no I/O):
 * a workload token when its `iss`, read unverified only to choose the check, is the
 * issuer of an attester declared by issuer — then the issuer's keys are fetched through
 * its discovery document, cached per isolate (bounded age, fetch timeout, refreshed on an
 * unknown kid, failing closed); a Baton attestation, verified against the configured
 * attester keys, otherwise. Here, in the Worker, rather than in the sequence's Durable
 * Object, so a slow issuer holds up no other request of the sequence.
 */
export function checkSubmittedAttestation(token: string, config: BatonConfig): Promise<AttestationCheck | WorkloadTokenCheck> {
  const issuer = config.workloadIssuers.get(unverifiedIssuer(token) ?? "");
  if (!issuer) return checkAttestation(token, config.attesterKeys);
  const keys = remoteKeySet(oidcIssuerKeys(issuer.issuer), { fetch: (input, init) => fetch(input, init), now: Date.now });
  return checkWorkloadToken(token, issuer, keys);
}
