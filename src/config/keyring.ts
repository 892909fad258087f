import { type Keyring, createKeyring } from "../tokens/keys.js";

export interface KeyringBindings {
  BATON_ENV?: string;
  BATON_SIGNING_KEYS?: string;
  DEV_KEYS: DurableObjectNamespace<import("./dev-key-vault.js").DevKeyVault>;
}

let cached: { source: string; keyring: Promise<Keyring> } | null = null;

/**
 * The keyring of this deployment: the BATON_SIGNING_KEYS secret when set; in
 * development only, a key set generated on first start and kept in the local
 * DevKeyVault Durable Object (under .wrangler/, never committed). Cached per isolate.
 */
export function loadKeyring(env: KeyringBindings): Promise<Keyring> {
  const source = env.BATON_SIGNING_KEYS ?? "dev-vault";
  if (cached && cached.source === source) return cached.keyring;
  const keyring = readKeyring(env);
  cached = { source, keyring };
  keyring.catch(() => {
    if (cached?.keyring === keyring) cached = null;
  });
  return keyring;
}

async function readKeyring(env: KeyringBindings): Promise<Keyring> {
  if (env.BATON_SIGNING_KEYS) return createKeyring(JSON.parse(env.BATON_SIGNING_KEYS));
  if (env.BATON_ENV !== "development") {
    throw new Error("BATON_SIGNING_KEYS is required outside development");
  }
  const vault = env.DEV_KEYS.get(env.DEV_KEYS.idFromName("dev-signing-keys"));
  return createKeyring(await vault.keyset());
}
