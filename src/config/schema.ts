import { z } from "zod";
import { DetectorSchema } from "./detector-schema.js";
import { PromotionSchema, ShadowEntrySchema } from "./shadow-schema.js";
import { Identifier } from "../policy/workflow-schema.js";
import { isLoopbackUrl } from "../loopback.js";
import { WEBHOOK_EVENTS } from "../tokens/event.js";
import { WORKLOAD_ALGORITHMS } from "../tokens/oidc-issuer.js";

/**
 * A public verification key. Private members are refused: configuration is
 * readable by whoever deploys, and an attester's private key must never be in it.
 */
export const PublicJwkSchema = z
  .looseObject({
    kty: z.enum(["OKP", "EC"]),
    kid: z.string().min(1).max(128),
    alg: z.enum(["EdDSA", "ES256"]),
    crv: z.enum(["Ed25519", "P-256"]),
    x: z.string().min(1),
    y: z.string().optional(),
  })
  .refine((jwk) => !("d" in jwk), { message: "private key material (d) is not allowed here", path: ["d"] })
  .refine((jwk) => (jwk.alg === "EdDSA") === (jwk.crv === "Ed25519"), {
    message: "alg and crv disagree (EdDSA needs Ed25519, ES256 needs P-256)",
    path: ["alg"],
  });
export type PublicJwk = z.infer<typeof PublicJwkSchema>;

/** The claims a workload token must carry with exactly these values: what narrows a shared issuer to yours. */
const RequiredClaimsSchema = z
  .record(z.string().min(1).max(64), z.union([z.string().max(256), z.number(), z.boolean()]))
  .refine((claims) => Object.keys(claims).length >= 1 && Object.keys(claims).length <= 16, {
    message: "1 to 16 claims: an issuer such as GitHub's signs tokens for every repository it hosts, so name yours (e.g. repository_owner_id)",
  });

/**
 * A system whose evidence gates accept: declared by its public keys (it signs Baton
 * attestations), or by its OIDC issuer (its workload tokens are the attestations; README:
 * "Workload identity tokens as attestations"). One object with a check rather than a
 * union, so a mistake is reported at its exact path.
 */
export const AttesterSchema = z
  .strictObject({
    id: Identifier,
    description: z.string().max(500).optional(),
    keys: z.array(PublicJwkSchema).min(1).max(16).optional(),
    issuer: z
      .url({ protocol: /^https?$/ })
      .max(256)
      .refine((u) => new URL(u).protocol === "https:" || isLoopbackUrl(new URL(u)), "https, or http to localhost in development")
      .refine((u) => !u.includes("?") && !u.includes("#") && new URL(u).username === "", "no query, fragment or credentials (OIDC Discovery §2)")
      .optional()
      .describe("the exact `iss` of the attester's tokens; its keys come from its OIDC discovery document"),
    audience: z
      .string()
      .min(1)
      .max(256)
      .refine((a) => !a.endsWith("/"), "no trailing slash: tokens name <audience>/v1/sequences/<id>")
      .optional()
      .describe("Baton's audience for this issuer (usually Baton's URL); a token's aud must be <audience>/v1/sequences/<sequence id>"),
    claims: RequiredClaimsSchema.optional(),
    algorithms: z.array(z.enum(WORKLOAD_ALGORITHMS)).min(1).max(WORKLOAD_ALGORITHMS.length).optional(),
  })
  .superRefine((attester, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: "custom", path: [path], message });
    if (attester.keys && attester.issuer) issue("issuer", "an attester is declared by keys or by issuer, not both");
    if (!attester.keys && !attester.issuer) issue("keys", "an attester needs keys, or an issuer (with audience and claims)");
    if (attester.issuer && !attester.audience) issue("audience", "required with issuer");
    if (attester.issuer && !attester.claims) issue("claims", "required with issuer");
    for (const member of ["audience", "claims", "algorithms"] as const) {
      if (!attester.issuer && attester[member] !== undefined) issue(member, "only with issuer");
    }
  });
export type Attester = z.infer<typeof AttesterSchema>;

/**
 * A person who may approve gates. `subject` is how they appear as a sequence
 * subject (e.g. `user:carol`), for separation of duties; `groups` are what gates
 * ask for (`finance-managers`, `sre`).
 */
export const ApproverSchema = z.strictObject({
  id: Identifier,
  description: z.string().max(500).optional(),
  subject: z.string().min(1).max(256).optional(),
  groups: z.array(Identifier).min(1).max(32),
  /** JWS approval keys; none for an approver who approves only with enrolled passkeys. */
  keys: z.array(PublicJwkSchema).max(16).default([]),
});
export type Approver = z.infer<typeof ApproverSchema>;

/**
 * The WebAuthn relying party approvers' passkeys are registered with and approvals are
 * verified against: `rp_id` the registrable domain the console is served under, `origins` the
 * exact origins (scheme, host, port) the console is served from. A passkey is bound to its RP
 * ID, so changing `rp_id` orphans every enrolled credential.
 */
export const PasskeysSchema = z.strictObject({
  rp_id: z.string().min(1).max(253).regex(/^[a-z0-9.-]+$/, "a lowercase domain, no scheme or port"),
  rp_name: z.string().min(1).max(64).default("Baton"),
  origins: z
    .array(
      z
        .url({ protocol: /^https?$/ })
        .max(256)
        // clientDataJSON.origin is compared as a string: a path or a trailing slash would never match.
        .refine((origin) => new URL(origin).origin === origin, "an origin: scheme, host and port, no path"),
    )
    .min(1)
    .max(8),
});
export type Passkeys = z.infer<typeof PasskeysSchema>;
/** Development defaults: `wrangler dev` on its default port. */
export const DEVELOPMENT_PASSKEYS: Passkeys = { rp_id: "localhost", rp_name: "Baton", origins: ["http://localhost:8787"] };

/** The roles a client can have, besides `tool:<id>` (one per tool server). */
export const NAMED_ROLES = ["orchestrator", "agent", "auditor", "attester", "approver", "operator"] as const;
export type NamedRole = (typeof NAMED_ROLES)[number];

const Role = z.union([z.enum(NAMED_ROLES), z.templateLiteral(["tool:", z.string().regex(/^[a-z0-9][a-z0-9._:-]{0,63}$/)])]);
export type Role = z.infer<typeof Role>;

/** RFC 8707 §2: an absolute URI without a fragment; compared in its parsed (normalised) form. */
export const ResourceIndicator = z
  .url({ protocol: /^https?$/ })
  .max(2048)
  .refine((uri) => !uri.includes("#"), "no fragment (RFC 8707 §2)");

/** The form a resource indicator is compared in: URL parsing's normalisation (case of scheme and host, default port). */
export function normalResource(uri: string): string | null {
  return URL.canParse(uri) ? new URL(uri).href : null;
}

/**
 * An API client. Only the SHA-256 (hex) of its key is stored, so a leaked
 * configuration does not leak credentials.
 */
export const ClientSchema = z.strictObject({
  id: Identifier,
  role: Role,
  key_sha256: z.string().regex(/^[0-9a-f]{64}$/, "64 lowercase hex characters"),
  /** For orchestrators: the workflow ids it may start; "*" for all. */
  workflows: z.array(z.union([Identifier, z.literal("*")])).optional(),
  /**
   * For tool servers: the resource indicators (RFC 8707) they answer as, e.g. an MCP server's
   * URL as its protected-resource metadata (RFC 9728) names it. A token exchange at
   * `/oauth/token` with `resource=<one of these>` asks for a capability addressed to this tool.
   */
  resources: z.array(ResourceIndicator).min(1).max(16).optional(),
});
export type Client = z.infer<typeof ClientSchema>;

// Hosts a webhook or an issuer may be reached at over plain http, and only in development (load.ts).
export { LOOPBACK_HOSTS } from "../loopback.js";

/**
 * An endpoint Baton POSTs signed events to (README: Webhooks). https, or http to the
 * loopback in development; no credentials in the URL (they would sit in the configuration).
 */
export const WebhookSchema = z.strictObject({
  id: Identifier,
  url: z
    .url({ protocol: /^https?$/ })
    .max(2048)
    .refine((u) => {
      const url = new URL(u);
      return url.protocol === "https:" || isLoopbackUrl(url);
    }, "https, or http to localhost in development")
    .refine((u) => new URL(u).username === "" && new URL(u).password === "", "no credentials in the URL"),
  events: z.array(z.enum(WEBHOOK_EVENTS)).min(1).max(WEBHOOK_EVENTS.length),
});
export type Webhook = z.infer<typeof WebhookSchema>;

/** The whole deployment configuration, as carried by the BATON_CONFIG binding. */
export const ConfigSchema = z
  .strictObject({
    "//": z.string().optional().describe("a comment, ignored"),
    issuer: z.string().min(1).max(256).describe("`iss` of every token Baton signs"),
    workflows: z.array(z.unknown()).max(256),
    attesters: z.array(AttesterSchema).max(256).default([]),
    approvers: z.array(ApproverSchema).max(1024).default([]),
    detectors: z.array(DetectorSchema).max(64).default([]),
    passkeys: PasskeysSchema.default(DEVELOPMENT_PASSKEYS).describe("WebAuthn relying party of approvers' passkeys"),
    webhooks: z.array(WebhookSchema).max(16).default([]),
    shadow: z.array(ShadowEntrySchema).max(64).default([]).describe("candidate workflow versions run in shadow (log only)"),
    promotions: z.array(PromotionSchema).max(256).default([]).describe("candidates that became their workflow's version"),
    clients: z.array(ClientSchema).min(1).max(1024),
  })
  .superRefine((config, ctx) => {
    unique(config.attesters.map((a) => a.id), ["attesters"], "attester id", ctx);
    // A token names its issuer, not an attester: one attester per issuer (narrow it further in the gate's CEL).
    config.attesters.forEach((a, i) => {
      if (a.issuer && config.attesters.findIndex((b) => b.issuer === a.issuer) !== i) {
        ctx.addIssue({ code: "custom", path: ["attesters", i, "issuer"], message: "duplicate attester issuer" });
      }
    });
    unique(config.approvers.map((a) => a.id), ["approvers"], "approver id", ctx);
    unique(config.detectors.map((d) => d.id), ["detectors"], "detector id", ctx);
    unique(config.clients.map((c) => c.id), ["clients"], "client id", ctx);
    unique(config.webhooks.map((w) => w.id), ["webhooks"], "webhook id", ctx);
    unique(config.shadow.map((s) => s.workflow), ["shadow"], "candidate for workflow", ctx, "workflow");
    unique(config.promotions.map((p) => p.workflow), ["promotions"], "promotion of workflow", ctx, "workflow");
    unique(config.clients.map((c) => c.key_sha256), ["clients"], "client key", ctx, "key_sha256");
    const kids = new Set<string>();
    for (const list of ["attesters", "approvers"] as const) {
      for (const [a, owner] of config[list].entries()) {
        for (const [k, key] of (owner.keys ?? []).entries()) {
          // A kid names one key across all attesters and approvers: the key decides who signed.
          if (kids.has(key.kid)) {
            ctx.addIssue({ code: "custom", path: [list, a, "keys", k, "kid"], message: `duplicate key id ${key.kid}` });
          }
          kids.add(key.kid);
        }
      }
    }
    const resourceOwner = new Map<string, string>();
    config.clients.forEach((client, i) => {
      if (client.workflows && client.role !== "orchestrator") {
        ctx.addIssue({ code: "custom", path: ["clients", i, "workflows"], message: "only orchestrators name workflows" });
      }
      if (client.resources && !client.role.startsWith("tool:")) {
        ctx.addIssue({ code: "custom", path: ["clients", i, "resources"], message: "only tool servers name resources" });
      }
      // One resource names one tool (several clients of the same tool, e.g. a key rotation, may share it).
      for (const [r, uri] of (client.resources ?? []).entries()) {
        const key = normalResource(uri) ?? uri;
        const owner = resourceOwner.get(key);
        if (owner !== undefined && owner !== client.role) {
          ctx.addIssue({ code: "custom", path: ["clients", i, "resources", r], message: `resource is already ${owner}'s` });
        }
        resourceOwner.set(key, client.role);
      }
    });
  });
export type ConfigInput = z.input<typeof ConfigSchema>;

function unique(
  values: string[],
  path: (string | number)[],
  what: string,
  ctx: z.RefinementCtx,
  field = "id",
): void {
  const seen = new Set<string>();
  values.forEach((value, i) => {
    if (seen.has(value)) ctx.addIssue({ code: "custom", path: [...path, i, field], message: `duplicate ${what}` });
    seen.add(value);
  });
}
