import type { Client } from "../../../config/schema.js";
import type { Caller } from "../../../ledger/protocol.js";
import { authenticateKey } from "../../auth.js";
import { OAuthError } from "./errors.js";

/** Form parameters that authenticate a client in the body: methods Baton does not take. */
const BODY_CREDENTIALS = ["client_secret", "client_assertion", "client_assertion_type"] as const;

/** One answer for every failed authentication, as the API's UNAUTHENTICATED: which part failed is not said. */
const REFUSED = "client authentication failed (client_secret_basic: the client id and its API key)";

/**
 * OAuth client authentication of a Baton client (RFC 6749 §2.3.1, `client_secret_basic`):
 * `Authorization: Basic base64(urlencode(client id) ":" urlencode(API key))`. The client id
 * is the configured client's `id`, the secret its API key, checked exactly as a bearer API
 * key is (SHA-256 digests, compared in constant time), and it must be that client's key.
 * Credentials in the body (`client_secret_post`, `private_key_jwt`) are refused: Baton's
 * clients have no registered public keys, and one method per request (RFC 6749 §2.3).
 */
export async function authenticateClient(header: string | undefined, form: URLSearchParams, clients: readonly Client[]): Promise<Caller> {
  const inBody = BODY_CREDENTIALS.filter((name) => form.has(name));
  if (header === undefined) {
    const method = inBody.length > 0 ? `${inBody.join(", ")} in the body is not a client authentication Baton takes; ` : "";
    throw new OAuthError("invalid_client", "UNAUTHENTICATED", `${method}authenticate with client_secret_basic (the client id and its API key)`);
  }
  if (inBody.length > 0) throw new OAuthError("invalid_request", "INVALID_REQUEST", "more than one client authentication method (RFC 6749 §2.3)");
  const credentials = basicCredentials(header);
  const caller = credentials && (await authenticateKey(credentials.secret, clients));
  // The body may repeat the client id (RFC 6749 §2.3.1); it must then be the same one.
  const bodyId = form.get("client_id");
  if (!credentials || !caller || caller.id !== credentials.id || (bodyId !== null && bodyId !== credentials.id)) {
    throw new OAuthError("invalid_client", "UNAUTHENTICATED", REFUSED);
  }
  return caller;
}

/** `Basic <base64>` → the client id and secret, each form-urlencoded (RFC 6749 Appendix B); null when malformed. */
export function basicCredentials(header: string): { id: string; secret: string } | null {
  const match = /^Basic ([A-Za-z0-9+/]{1,2048}={0,2})$/i.exec(header);
  if (!match?.[1]) return null;
  let decoded: string;
  try {
    // atob gives one character per byte; the credentials are UTF-8 (RFC 7617 §2.1, charset="UTF-8").
    decoded = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(Uint8Array.from(atob(match[1]), (ch) => ch.charCodeAt(0)));
  } catch {
    return null;
  }
  const colon = decoded.indexOf(":");
  if (colon < 0) return null;
  const id = formDecode(decoded.slice(0, colon));
  const secret = formDecode(decoded.slice(colon + 1));
  return id && secret ? { id, secret } : null;
}

function formDecode(value: string): string | null {
  try {
    return decodeURIComponent(value.replace(/\+/g, " "));
  } catch {
    return null;
  }
}
