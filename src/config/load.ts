import { importJWK } from "jose";
import type { Detector } from "./detector-schema.js";
import { BatonError } from "../errors.js";
import { CONFIG_MAX_BYTES } from "../limits.js";
import { type CompiledWorkflow, WorkflowCompileError, compileWorkflow, formatPath } from "../policy/compile.js";
import { WORKLOAD_TOKEN_TYPE } from "../tokens/kinds.js";
import { WORKLOAD_DEFAULT_ALGORITHMS } from "../tokens/oidc-issuer.js";
import type { WorkloadIssuer } from "../tokens/workload-token.js";
import { BUNDLED_EXAMPLE_CONFIG } from "./bundled.js";
import { type ShadowCandidate, compileCandidates } from "./candidates.js";
import { type Approver, type Client, ConfigSchema, type Passkeys, type PublicJwk, type Webhook } from "./schema.js";

export interface AttesterKey {
  attester: string;
  jwk: PublicJwk;
  key: CryptoKey;
}

export interface ApproverKey {
  approver: Approver;
  jwk: PublicJwk;
  key: CryptoKey;
}

/** The validated, compiled configuration a Worker isolate runs with. */
export interface BatonConfig {
  issuer: string;
  /** Workflows by id (the version a new sequence starts under). */
  workflows: ReadonlyMap<string, CompiledWorkflow>;
  /** Attester verification keys by kid: the key, not a claim, says who signed. */
  attesterKeys: ReadonlyMap<string, AttesterKey>;
  /** Attesters declared by OIDC issuer, by the exact `iss` of their tokens (their keys are fetched, not configured). */
  workloadIssuers: ReadonlyMap<string, WorkloadIssuer>;
  /** Approver verification keys by kid: the person is the key's owner, never a name in the token. */
  approverKeys: ReadonlyMap<string, ApproverKey>;
  /** Approvers by id: who may enrol a passkey, and the groups a passkey approval counts for. */
  approvers: ReadonlyMap<string, Approver>;
  /** The WebAuthn relying party of approvers' passkeys. */
  passkeys: Passkeys;
  clients: readonly Client[];
  /** The analysis plane's detectors (signals are only consulted where workflows declare them). */
  detectors: readonly Detector[];
  /** Endpoints notified of escalations, seals, revocations and signals. */
  webhooks: readonly Webhook[];
  /** Candidate versions run in shadow, by workflow id (a broken one is kept, with its issues). */
  candidates: ReadonlyMap<string, ShadowCandidate>;
  /** Promotions by workflow id: the version hash the current one replaced. */
  promotions: ReadonlyMap<string, string>;
  source: "binding" | "bundled-examples";
}

export interface ConfigIssue {
  path: string;
  message: string;
}

/** Invalid configuration: every issue carries the exact path, e.g. `workflows[0].stages[2].gate`. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(readonly issues: ConfigIssue[]) {
    super(`invalid Baton configuration: ${issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`);
  }
}

/** Validates a configuration document and compiles its workflows and keys. */
export async function parseConfig(
  input: unknown,
  source: BatonConfig["source"] = "binding",
  { development = false }: { development?: boolean } = {},
): Promise<BatonConfig> {
  const parsed = ConfigSchema.safeParse(input);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => ({ path: formatPath(issue.path), message: issue.message })));
  }
  const config = parsed.data;
  const issues: ConfigIssue[] = [];

  const workflows = new Map<string, CompiledWorkflow>();
  const compiledAt: (CompiledWorkflow | undefined)[] = [];
  for (const [index, raw] of config.workflows.entries()) {
    try {
      const compiled = await compileWorkflow(raw);
      compiledAt[index] = compiled;
      if (workflows.has(compiled.id)) {
        issues.push({ path: `workflows[${index}].id`, message: `duplicate workflow id ${compiled.id}` });
      }
      workflows.set(compiled.id, compiled);
    } catch (error) {
      if (!(error instanceof WorkflowCompileError)) throw error;
      for (const issue of error.issues) {
        issues.push({ path: formatPath(["workflows", index, ...issue.path]), message: issue.message });
      }
    }
  }

  config.clients.forEach((client, index) => {
    for (const [w, id] of (client.workflows ?? []).entries()) {
      if (id !== "*" && !workflows.has(id)) {
        issues.push({ path: `clients[${index}].workflows[${w}]`, message: `unknown workflow ${id}` });
      }
    }
  });

  // Which workflow a candidate or a promotion is of is the configuration's business; the
  // candidate's own definition is not (compileCandidates).
  config.shadow.forEach((entry, i) => {
    if (!workflows.has(entry.workflow)) issues.push({ path: `shadow[${i}].workflow`, message: `unknown workflow ${entry.workflow}` });
  });
  config.promotions.forEach((promotion, i) => {
    const current = workflows.get(promotion.workflow);
    if (!current) issues.push({ path: `promotions[${i}].workflow`, message: `unknown workflow ${promotion.workflow}` });
    else if (current.hash === promotion.from) issues.push({ path: `promotions[${i}].from`, message: "is the workflow's current version" });
  });

  const attesterKeys = new Map<string, AttesterKey>();
  for (const [a, attester] of config.attesters.entries()) {
    for (const [k, jwk] of (attester.keys ?? []).entries()) {
      try {
        const key = (await importJWK(jwk, jwk.alg)) as CryptoKey;
        attesterKeys.set(jwk.kid, { attester: attester.id, jwk, key });
      } catch (error) {
        issues.push({ path: `attesters[${a}].keys[${k}]`, message: `unusable key: ${(error as Error).message}` });
      }
    }
  }

  const approverKeys = new Map<string, ApproverKey>();
  for (const [a, approver] of config.approvers.entries()) {
    for (const [k, jwk] of approver.keys.entries()) {
      try {
        const key = (await importJWK(jwk, jwk.alg)) as CryptoKey;
        approverKeys.set(jwk.kid, { approver, jwk, key });
      } catch (error) {
        issues.push({ path: `approvers[${a}].keys[${k}]`, message: `unusable key: ${(error as Error).message}` });
      }
    }
  }

  // Plain http reaches only the loopback (the schema), and only a development deployment:
  // a production event must not cross any network unencrypted, nor an issuer's keys.
  config.webhooks.forEach((webhook, w) => {
    if (!development && new URL(webhook.url).protocol !== "https:") issues.push({ path: `webhooks[${w}].url`, message: "https required outside development" });
  });
  const workloadIssuers = new Map<string, WorkloadIssuer>();
  config.attesters.forEach(({ id, issuer, audience, claims, algorithms }, a) => {
    if (!issuer || !audience || !claims) return;
    if (!development && new URL(issuer).protocol !== "https:") issues.push({ path: `attesters[${a}].issuer`, message: "https required outside development" });
    workloadIssuers.set(issuer, { attester: id, issuer, audience, claims, algorithms: algorithms ?? WORKLOAD_DEFAULT_ALGORITHMS });
  });
  // A requirement of another type from an attester declared by issuer could never be met.
  const byIssuer = new Set([...workloadIssuers.values()].map((w) => w.attester));
  for (const [index, compiled] of compiledAt.entries()) {
    compiled?.gates.forEach((gate, g) => {
      gate?.attestations.forEach(({ requirement }, r) => {
        if (!byIssuer.has(requirement.issuer) || requirement.type === WORKLOAD_TOKEN_TYPE) return;
        const path = g === compiled.definition.stages.length ? "complete.gate" : `stages[${g}].gate`;
        issues.push({
          path: `workflows[${index}].${path}.attestations[${r}].type`,
          message: `attester ${requirement.issuer} is declared by issuer: its tokens are of type ${WORKLOAD_TOKEN_TYPE}`,
        });
      });
    });
  }

  // A gate that asks for more approvers than its group has could never open.
  for (const [index, compiled] of compiledAt.entries()) {
    compiled?.gates.forEach((gate, g) => {
      const wanted = gate?.approvals;
      if (!wanted) return;
      const members = config.approvers.filter((a) => a.groups.includes(wanted.group)).length;
      if (members < wanted.count) {
        const path = g === compiled.definition.stages.length ? "complete.gate" : `stages[${g}].gate`;
        issues.push({
          path: `workflows[${index}].${path}.approvals.count`,
          message: `needs ${wanted.count} approvers of group ${wanted.group}; the configuration has ${members}`,
        });
      }
    });
  }

  if (issues.length > 0) throw new ConfigError(issues);
  const approvers = new Map(config.approvers.map((approver) => [approver.id, approver]));
  return {
    issuer: config.issuer,
    workflows,
    attesterKeys,
    workloadIssuers,
    approverKeys,
    approvers,
    passkeys: config.passkeys,
    clients: config.clients,
    detectors: config.detectors,
    webhooks: config.webhooks,
    candidates: await compileCandidates(config.shadow),
    promotions: new Map(config.promotions.map((p) => [p.workflow, p.from])),
    source,
  };
}

export interface ConfigBindings {
  BATON_ENV?: string;
  BATON_CONFIG?: string;
}

let cached: { raw: string | undefined; config: Promise<BatonConfig> } | null = null;

/**
 * The configuration of this deployment: the BATON_CONFIG binding (JSON) when set;
 * otherwise, in development only, the bundled examples. Parsed once per isolate.
 */
export function loadConfig(env: ConfigBindings): Promise<BatonConfig> {
  if (cached && cached.raw === env.BATON_CONFIG) return cached.config;
  const config = readConfig(env);
  cached = { raw: env.BATON_CONFIG, config };
  // A failed load is not cached: the next request reports the same error afresh.
  config.catch(() => {
    if (cached?.config === config) cached = null;
  });
  return config;
}

async function readConfig(env: ConfigBindings): Promise<BatonConfig> {
  const raw = env.BATON_CONFIG;
  if (raw === undefined || raw === "") {
    if (env.BATON_ENV !== "development") {
      // The examples carry published development credentials: never serve them in production.
      throw new ConfigError([{ path: "BATON_CONFIG", message: "required outside development" }]);
    }
    return parseConfig(BUNDLED_EXAMPLE_CONFIG, "bundled-examples", { development: true });
  }
  if (raw.length > CONFIG_MAX_BYTES) {
    throw new ConfigError([{ path: "BATON_CONFIG", message: `larger than ${CONFIG_MAX_BYTES} bytes` }]);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (error) {
    throw new ConfigError([{ path: "BATON_CONFIG", message: `not JSON: ${(error as Error).message}` }]);
  }
  return parseConfig(json, "binding", { development: env.BATON_ENV === "development" });
}

/**
 * Maps a configuration failure to a 500. The exact paths always go to the log;
 * the response names them only in development, where the caller is the operator.
 */
export function configFailure(error: unknown, env: ConfigBindings): BatonError {
  const issues = error instanceof ConfigError ? error.issues : [{ path: "", message: String(error) }];
  console.error("Baton configuration is invalid", JSON.stringify(issues));
  const details = env.BATON_ENV === "development" ? { config: issues } : undefined;
  return new BatonError("INTERNAL", "Baton is misconfigured (see the Worker log)", { details, cause: error });
}
