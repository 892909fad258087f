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
    /** Names this request in the log and in a 500's body, so an operator can find it. */
    requestId: string;
    /** An AuthZEN PEP's own X-Request-ID, answered back in that header (AuthZEN 1.0 §10.1.3); the log keeps `requestId`. */
    pepRequestId?: string;
  };
}
