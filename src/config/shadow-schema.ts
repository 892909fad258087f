import { z } from "zod";
import { Identifier } from "../policy/workflow-schema.js";

/** A workflow version hash: SHA-256 of its RFC 8785 JSON, base64url. */
const VersionHash = z.string().regex(/^[A-Za-z0-9_-]{43}$/, "a workflow version hash (43 base64url characters)");

/**
 * A candidate version of a configured workflow, run in shadow (README: Shadow mode): every
 * decision of that workflow's sequences is also computed under it and recorded beside the
 * real one, which alone is enforced. The definition is deliberately not checked here: a
 * candidate that does not compile is reported as such and never fails the configuration,
 * so it can never take enforcement down with it.
 */
export const ShadowEntrySchema = z.strictObject({
  workflow: Identifier,
  candidate: z.unknown(),
  description: z.string().max(500).optional(),
});
export type ShadowEntry = z.infer<typeof ShadowEntrySchema>;

/**
 * A promotion, recorded in the configuration when a candidate becomes the workflow's version:
 * `from` is the version it replaced. The first sequence started under the new version
 * carries `promoted_from` on its start receipt.
 */
export const PromotionSchema = z.strictObject({
  workflow: Identifier,
  from: VersionHash,
});
export type Promotion = z.infer<typeof PromotionSchema>;
