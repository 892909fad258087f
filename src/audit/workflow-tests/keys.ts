import { type JWK, SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair } from "jose";
import type { CompiledWorkflow } from "../../policy/compile.js";
import type { ApproverKeyEntry } from "../../tokens/approval.js";
import type { AttesterKeyEntry } from "../../tokens/attestation.js";
import { type Keyring, createKeyring, generateSigningKeyset } from "../../tokens/keys.js";
import type { WorkflowTests } from "./format.js";
import { registeredAttesters } from "./plan.js";
import { type TestIssuer, createTestIssuers, workloadAttesters } from "./workload.js";

// The throwaway keys of one test file's run: Baton's signing key (and a forger's), one key per
// attester and approver, the agent's DPoP key and a thief's, and an OIDC
// issuer's key pair per attester declared by issuer (workload.ts). Generated per run and never written down:
// the tokens are real (signed, then verified by the very checks the Worker's routes use),
// but nothing outside the run can mint or accept them.

/** The issuer the test Baton signs as. */
export const TEST_ISSUER = "urn:baton:test";
const ALG = "EdDSA";

/** A key that signs evidence: its id, and its private half. */
export interface Signer {
  kid: string;
  privateKey: CryptoKey;
}

/** A holder's key pair, for DPoP proofs. */
export interface HolderKey {
  privateKey: CryptoKey;
  publicJwk: JWK;
  jkt: string;
}

export interface TestKeys {
  keyring: Keyring;
  /** Signs as Baton's kid with another key: a forged capability. */
  forger: Keyring;
  /** What the Worker's configuration would list: the registered keys only. */
  attesterKeys: ReadonlyMap<string, AttesterKeyEntry>;
  approverKeys: ReadonlyMap<string, ApproverKeyEntry>;
  attester(id: string): Signer;
  approver(id: string): Signer;
  /** The OIDC issuer of an attester declared by issuer (workload.ts). */
  workload(id: string): TestIssuer;
  /** The agent's key (sender-constrained workflows) and a key that is not the agent's. */
  actor: HolderKey;
  thief: HolderKey;
}

export async function createTestKeys(file: WorkflowTests, workflow: CompiledWorkflow): Promise<TestKeys> {
  const keyring = await createKeyring(await generateSigningKeyset("baton-test"));
  const registered = registeredAttesters(file, workflow);
  // An attester declared by issuer has no attestation keys in the configuration: its tokens are its issuer's.
  const byIssuer = workloadAttesters(file, workflow);
  const attesters = new Map<string, Signer>();
  const attesterKeys = new Map<string, AttesterKeyEntry>();
  for (const id of new Set([...registered, ...Object.keys(file.attesters)])) {
    const { signer, publicKey } = await evidenceKey(id);
    attesters.set(id, signer);
    if (registered.has(id) && !byIssuer.has(id)) attesterKeys.set(signer.kid, { attester: id, jwk: { alg: ALG }, key: publicKey });
  }
  const approvers = new Map<string, Signer>();
  const approverKeys = new Map<string, ApproverKeyEntry>();
  for (const [id, approver] of Object.entries(file.approvers)) {
    const { signer, publicKey } = await evidenceKey(id);
    approvers.set(id, signer);
    const identity = { id, groups: approver.groups, ...(approver.subject ? { subject: approver.subject } : {}) };
    if (approver.registered) approverKeys.set(signer.kid, { approver: identity, jwk: { alg: ALG }, key: publicKey });
  }
  const issuers = await createTestIssuers(file, workflow);
  const known = <T>(map: Map<string, T>, what: string) => (id: string) => {
    const found = map.get(id);
    // The plan checked every name first; reaching this is a bug in the runner.
    if (!found) throw new Error(`no key for ${what} ${id}`);
    return found;
  };
  return {
    keyring,
    forger: await createKeyring(await generateSigningKeyset("baton-test")),
    attesterKeys,
    approverKeys,
    attester: known(attesters, "attester"),
    approver: known(approvers, "approver"),
    workload: known(issuers, "workload attester"),
    actor: await holderKey(),
    thief: await holderKey(),
  };
}

/** Signs evidence (an attestation, an approval) as its issuer's tool would. */
export function signEvidence(signer: Signer, typ: string, claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: ALG, typ, kid: signer.kid }).sign(signer.privateKey);
}

async function evidenceKey(id: string): Promise<{ signer: Signer; publicKey: CryptoKey }> {
  const { privateKey, publicKey } = await generateKeyPair(ALG);
  return { signer: { kid: `${id}-test`, privateKey }, publicKey };
}

async function holderKey(): Promise<HolderKey> {
  const { privateKey, publicKey } = await generateKeyPair(ALG, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  return { privateKey, publicJwk, jkt: await calculateJwkThumbprint(publicJwk, "sha256") };
}
