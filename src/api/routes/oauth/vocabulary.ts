/** The OAuth words Baton speaks at its edge (RFC 8414 metadata, RFC 8693 token exchange), defined once. */

export const TOKEN_ENDPOINT_PATH = "/oauth/token";
/** Listed because RFC 8414 clients require an authorization endpoint; it serves no response type (metadata.ts). */
export const AUTHORIZATION_ENDPOINT_PATH = "/oauth/authorize";
export const METADATA_PATH = "/.well-known/oauth-authorization-server";

/** RFC 8693 §2.1. The only grant Baton's token endpoint serves. */
export const TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange";

/**
 * Token type identifiers (RFC 8693 §3). A Baton capability has its own, published in the
 * metadata; it is an access token issued by this server, so the generic access-token type
 * is taken as a synonym on the way in and answered on the way out when asked for.
 */
export const TOKEN_TYPE = {
  capability: "urn:baton:params:oauth:token-type:capability",
  accessToken: "urn:ietf:params:oauth:token-type:access_token",
} as const;
export const TOKEN_TYPES = [TOKEN_TYPE.capability, TOKEN_TYPE.accessToken] as const;
export type TokenType = (typeof TOKEN_TYPES)[number];

/** RFC 6749 §2.3.1: a client's id and API key as HTTP Basic credentials; the only method Baton takes (README). */
export const CLIENT_AUTH_METHODS = ["client_secret_basic"] as const;

/** The member of every OAuth error body that carries Baton's reason code (README, "Reason codes"). */
export const BATON_CODE_MEMBER = "baton_code";
