// Secrets are not in wrangler.toml, so `wrangler types` cannot see them; they are
// optional because development runs without them (see README, "Configuration").
interface __BatonSecrets {
  /** The deployment configuration (JSON); replaces the bundled examples. */
  BATON_CONFIG?: string;
  /** The signing key set (JSON, see src/tokens/keys.ts). */
  BATON_SIGNING_KEYS?: string;
}
interface Env extends __BatonSecrets {}
declare namespace Cloudflare {
  interface Env extends __BatonSecrets {}
}
