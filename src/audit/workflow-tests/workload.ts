import { SignJWT, exportJWK, generateKeyPair } from "jose";
import type { CompiledWorkflow } from "../../policy/compile.js";
import { WORKLOAD_TOKEN_TYPE } from "../../tokens/kinds.js";
import { WORKLOAD_DEFAULT_ALGORITHMS, importSigningKeys } from "../../tokens/oidc-issuer.js";
import type { KeySource } from "../../tokens/remote-key-set.js";
import { type WorkloadIssuer, type WorkloadTokenCheck, checkWorkloadToken, sequenceAudience } from "../../tokens/workload-token.js";
import type { WorkflowTests, WorkloadStep } from "./format.js";
import { seconds, timeFrom } from "./times.js";

// The runner as an OIDC issuer (GitHub Actions, Kubernetes…): for each attester declared by
// issuer, a throwaway key pair per run, its public half imported the way the Worker imports
// a fetched key set (`importSigningKeys`), and tokens signed as the issuer signs them. They
// are verified by the Worker's own `checkWorkloadToken`, against a key source that holds
// that set alone; a key outside it stands for a token the issuer never signed.

/** Baton's audience for a workload attester when the file does not say (the runner's Baton is at this URL). */
export const DEFAULT_WORKLOAD_AUDIENCE = "https://baton.test";
/** The issuer of a workload attester when the file does not say. */
export const defaultWorkloadIssuer = (attester: string): string => `https://issuer.test/${encodeURIComponent(attester)}`;
/** How long a token lives when its step gives no `exp` (GitHub's live about as long). */
const DEFAULT_LIFETIME_MS = 300_000;

export interface TestIssuer {
  settings: WorkloadIssuer;
  /** The issuer's key set, as the Worker's cache would answer from it. */
  keys: KeySource;
  sign(claims: Record<string, unknown>, unknownKey: boolean): Promise<string>;
}

/** The attesters declared by issuer: those the file declares with `workload`, and those the workflow's gates take workload_identity from. */
export function workloadAttesters(file: WorkflowTests, workflow: CompiledWorkflow): Set<string> {
  const named = workflow.gates.flatMap((gate) => gate?.attestations.filter((a) => a.requirement.type === WORKLOAD_TOKEN_TYPE).map((a) => a.requirement.issuer) ?? []);
  const declared = Object.entries(file.attesters).filter(([, a]) => a.workload !== undefined).map(([id]) => id);
  return new Set([...named, ...declared]);
}

/** One issuer per workload attester, with the file's settings or the defaults. */
export async function createTestIssuers(file: WorkflowTests, workflow: CompiledWorkflow): Promise<Map<string, TestIssuer>> {
  const issuers = new Map<string, TestIssuer>();
  for (const attester of workloadAttesters(file, workflow)) {
    const declared = file.attesters[attester]?.workload ?? {};
    const settings: WorkloadIssuer = {
      attester,
      issuer: declared.issuer ?? defaultWorkloadIssuer(attester),
      audience: declared.audience ?? DEFAULT_WORKLOAD_AUDIENCE,
      claims: declared.claims ?? {},
      algorithms: declared.algorithms ?? WORKLOAD_DEFAULT_ALGORITHMS,
    };
    // The issuer signs with the first algorithm the attester accepts.
    const alg = settings.algorithms[0] ?? "RS256";
    const own = await generateKeyPair(alg);
    const stranger = await generateKeyPair(alg);
    const kid = `${attester}-issuer-1`;
    const set = await importSigningKeys({ keys: [{ ...(await exportJWK(own.publicKey)), kid, alg, use: "sig" }] }, settings.algorithms);
    issuers.set(attester, {
      settings,
      keys: { key: async (id) => set.get(id) },
      sign: (claims, unknownKey) =>
        new SignJWT(claims)
          .setProtectedHeader({ alg, typ: "JWT", kid: unknownKey ? `${attester}-unknown` : kid })
          .sign(unknownKey ? stranger.privateKey : own.privateKey),
    });
  }
  return issuers;
}

/** The token a workload step presents: its claims, then what the issuer sets (iss, aud, times, a deterministic jti). */
export function signWorkloadToken(issuer: TestIssuer, step: WorkloadStep, seq: string, at: number, jti: string): Promise<string> {
  const iat = step.iat ? timeFrom(step.iat, at) : at;
  const aud = step.audience ?? sequenceAudience(issuer.settings.audience, step.other_sequence ? `${seq}-other` : seq);
  const claims = {
    ...step.claims,
    iss: issuer.settings.issuer,
    aud,
    iat: seconds(iat),
    nbf: seconds(step.nbf ? timeFrom(step.nbf, at) : iat),
    exp: seconds(step.exp ? timeFrom(step.exp, at) : iat + DEFAULT_LIFETIME_MS),
    jti,
  };
  return issuer.sign(claims, step.signed_by_unknown_key);
}

/** The Worker's own check of a workload token, against the issuer's key set. */
export function checkTestWorkloadToken(issuer: TestIssuer, token: string): Promise<WorkloadTokenCheck> {
  return checkWorkloadToken(token, issuer.settings, issuer.keys);
}
