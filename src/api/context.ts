import type { BatonConfig } from "../config/load.js";
import type { Caller } from "../ledger/protocol.js";
import type { Keyring } from "../tokens/keys.js";

/** The one Hono environment type of the app (STYLE: one Env, used everywhere). */
export interface AppEnv {
  Bindings: Env;
  Variables: {
    config: BatonConfig;
    keyring: Keyring;
    caller: Caller;
  };
}
