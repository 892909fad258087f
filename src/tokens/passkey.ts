import { type AuthenticationResponseJSON, verifyAuthenticationResponse } from "@simplewebauthn/server";
import { base64url } from "jose";
import { z } from "zod";
import { ApprovalClaimsSchema } from "./approval.js";
import { canonicalJson, sha256 } from "./digest.js";
import { isCanonicalBase64url } from "./jws.js";
import { hasDuplicateMembers } from "./strict-json.js";

/**
 * Bounds of a passkey approval's fields, in bytes before base64url, checked by the schema
 * before anything is decoded, so a hostile form costs a length comparison.
 * - Credential id: WebAuthn L3 §7.1 refuses ids longer than 1023 bytes at registration.
 * - Authenticator data: an assertion's is 37 bytes (rpIdHash 32, flags 1, signCount 4) plus
 *   extension outputs, which no Baton ceremony requests; 1 KiB leaves room for one that adds them.
 * - Client data JSON: type, a 43-character challenge, the origin and crossOrigin: well under
 *   200 bytes from a browser; 2 KiB allows long origins and the members browsers add
 *   (Chrome's "other_keys_can_be_added_here").
 * - Signature: ES256 in DER is at most 72 bytes, Ed25519 64, RS256 with a 4096-bit key 512.
 */
export const PASSKEY_CREDENTIAL_ID_MAX_BYTES = 1023;
export const PASSKEY_AUTHENTICATOR_DATA_MIN_BYTES = 37;
export const PASSKEY_AUTHENTICATOR_DATA_MAX_BYTES = 1024;
export const PASSKEY_CLIENT_DATA_JSON_MAX_BYTES = 2048;
export const PASSKEY_SIGNATURE_MAX_BYTES = 512;
/** A registered COSE public key: an EC2 P-256 key is 77 bytes, an RSA-4096 one about 540. */
export const PASSKEY_PUBLIC_KEY_MAX_BYTES = 1024;
/** Refusal messages quote the library's, which can quote the hostile input: capped. */
const MESSAGE_MAX_CHARS = 300;

/** Characters of the unpadded base64url of n bytes (RFC 4648 §5). */
const base64urlChars = (bytes: number) => Math.ceil((bytes * 4) / 3);

/** Canonical unpadded base64url of between min and max bytes: one spelling per byte string. */
function base64urlBytes(minBytes: number, maxBytes: number) {
  return z
    .string()
    .min(base64urlChars(minBytes))
    .max(base64urlChars(maxBytes))
    .refine(isCanonicalBase64url, "must be canonical unpadded base64url");
}

/**
 * The passkey form of an approval, beside the JWS one: the approval claims in the clear and a
 * WebAuthn assertion (W3C WebAuthn L3 §5.2.2, AuthenticatorAssertionResponse) whose challenge is
 * {@link passkeyApprovalChallenge} of those claims. The field names are the wire names of the
 * approval body and of the receipt that keeps it for `baton audit verify`.
 */
export const PasskeyApprovalSchema = z.strictObject({
  claims: ApprovalClaimsSchema,
  credential_id: base64urlBytes(1, PASSKEY_CREDENTIAL_ID_MAX_BYTES),
  authenticator_data: base64urlBytes(PASSKEY_AUTHENTICATOR_DATA_MIN_BYTES, PASSKEY_AUTHENTICATOR_DATA_MAX_BYTES),
  client_data_json: base64urlBytes(1, PASSKEY_CLIENT_DATA_JSON_MAX_BYTES),
  signature: base64urlBytes(1, PASSKEY_SIGNATURE_MAX_BYTES),
});

/** A passkey approval as received: well-formed at best, its signature not yet checked. */
export type UnverifiedPasskeyApproval = z.infer<typeof PasskeyApprovalSchema>;
export type PasskeyApprovalClaims = UnverifiedPasskeyApproval["claims"];

/** The approver's registered credential, as enrolment stored it. */
export interface PasskeyCredential {
  /** The credential id, canonical base64url. */
  id: string;
  /** The COSE_Key (RFC 9052 §7) from the registration's attested credential data, base64url. */
  publicKey: string;
  /** The signature counter last accepted for this credential (0 before the first, or when the authenticator does not count). */
  counter: number;
}

export interface VerifyPasskeyApprovalOptions {
  credential: PasskeyCredential;
  /** The console's origin(s), e.g. `https://baton.example.com`: clientDataJSON.origin must be one of them. */
  expectedOrigin: string | string[];
  /** The RP ID the credential was registered for (a registrable domain of the origin): authenticatorData.rpIdHash must be its SHA-256. */
  expectedRpId: string;
}

export type PasskeyApprovalCheck =
  | {
      ok: true;
      claims: PasskeyApprovalClaims;
      /** The authenticator's signature counter: the ledger stores it as the credential's new counter. */
      newCounter: number;
    }
  | { ok: false; message: string };

/**
 * The WebAuthn challenge a passkey approval signs: base64url(SHA-256(RFC 8785 canonical JSON of
 * the approval claims)). The authenticator signs authenticatorData ‖ SHA-256(clientDataJSON), and
 * clientDataJSON carries this challenge, so the person's signature commits to exactly these
 * claims — sequence, stage, decision, the digest of what is approved, jti, iat, exp — and to
 * nothing else. Unlike a sign-in challenge it is not random: freshness comes from iat/exp and
 * replay is stopped by the jti, as for the JWS form.
 *
 * @example
 * ```ts
 * const challenge = await passkeyApprovalChallenge(claims);
 * // browser: navigator.credentials.get({ publicKey: { challenge: base64url.decode(challenge), rpId, userVerification: "required" } })
 * ```
 */
export function passkeyApprovalChallenge(claims: PasskeyApprovalClaims): Promise<string> {
  return sha256(canonicalJson(claims));
}

/**
 * Verifies a passkey approval against the approver's registered credential, with
 * `@simplewebauthn/server`: the challenge recomputed from the claims (an assertion made for other
 * claims fails), the origin, the RP ID, user presence and user verification (required), the
 * signature counter and the signature. Never throws: hostile input becomes `{ ok: false }`.
 *
 * Uses web-standard APIs only (WebCrypto), so the auditor re-verifies a receipt's assertion
 * offline in Node with the same function. The caller resolves `credential` from the claims'
 * `iss` and the form's `credential_id` (the credential must belong to that approver), and keeps
 * the checks that are the gate's: the claims' sequence, stage, digest, freshness and jti.
 *
 * Counter (WebAuthn L3 §6.1.1): when either the stored or the reported counter is non-zero, a
 * reported counter not greater than the stored one is refused — a cloned authenticator, or a
 * replay of an assertion already counted. Synced passkeys (iCloud Keychain, Google Password
 * Manager) always report 0: with 0 stored and 0 reported the assertion is accepted, and replay is
 * stopped by the approval's jti in the sequence's ledger, not by the counter. A credential that
 * counted once and then reports 0 is refused. An auditor re-verifying one receipt alone passes
 * `counter: 0` and checks the chain's counters separately.
 */
export async function verifyPasskeyApproval(input: unknown, options: VerifyPasskeyApprovalOptions): Promise<PasskeyApprovalCheck> {
  const parsed = PasskeyApprovalSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return fail(`passkey approval is malformed: ${issue?.path.join(".") || "(root)"} ${issue?.message}`);
  }
  const form = parsed.data;
  const { credential } = options;
  // The library reports the stored credential's id and never compares it with the response's:
  // an assertion names the credential that made it, and it must be the registered one.
  if (form.credential_id !== credential.id) return fail("the assertion was made by another credential than the registered one");

  const clientData = readClientData(form.client_data_json);
  if (typeof clientData === "string") return fail(clientData);
  // The library accepts crossOrigin: true when the browser omits topOrigin (Safari does): an
  // approval is never signed inside another site's frame, where that site chooses what is shown.
  if (clientData.crossOrigin !== undefined && clientData.crossOrigin !== false) {
    return fail("the assertion was made in a cross-origin frame");
  }

  let publicKey: Uint8Array<ArrayBuffer>;
  try {
    if (!isCanonicalBase64url(credential.publicKey) || credential.publicKey.length > base64urlChars(PASSKEY_PUBLIC_KEY_MAX_BYTES)) {
      return fail("the registered public key is not a bounded canonical base64url COSE key");
    }
    publicKey = base64url.decode(credential.publicKey) as Uint8Array<ArrayBuffer>;
  } catch {
    return fail("the registered public key is not base64url");
  }

  try {
    const response: AuthenticationResponseJSON = {
      id: form.credential_id,
      rawId: form.credential_id,
      type: "public-key",
      response: {
        authenticatorData: form.authenticator_data,
        clientDataJSON: form.client_data_json,
        signature: form.signature,
      },
      clientExtensionResults: {},
    };
    const result = await verifyAuthenticationResponse({
      response,
      expectedChallenge: await passkeyApprovalChallenge(form.claims),
      expectedOrigin: options.expectedOrigin,
      expectedRPID: options.expectedRpId,
      expectedType: "webauthn.get",
      credential: { id: credential.id, publicKey, counter: credential.counter },
      requireUserVerification: true,
    });
    if (!result.verified) return fail("the assertion's signature does not verify with the registered credential");
    // Already required above; kept so a change of the library's defaults cannot pass silently.
    if (!result.authenticationInfo.userVerified) return fail("user verification required, but the authenticator did not verify the user");
    return { ok: true, claims: form.claims, newCounter: result.authenticationInfo.newCounter };
  } catch (error) {
    return fail(`assertion refused: ${error instanceof Error ? error.message : String(error)}`);
  }
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/**
 * clientDataJSON as an object, or why not. The library parses it with `JSON.parse`, which keeps
 * the last of two `challenge` members: a text with duplicates is refused first, so the ledger and
 * every other reader of the receipt see the same challenge (RFC 8725 §3.11's rule for JWS).
 */
function readClientData(encoded: string): Record<string, unknown> | string {
  let text: string;
  try {
    text = strictUtf8.decode(base64url.decode(encoded));
  } catch {
    return "client_data_json is not base64url UTF-8";
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return "client_data_json is not JSON";
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "client_data_json is not a JSON object";
  if (hasDuplicateMembers(text)) return "client_data_json repeats a member name";
  return value as Record<string, unknown>;
}

function fail(message: string): PasskeyApprovalCheck {
  return { ok: false, message: message.length > MESSAGE_MAX_CHARS ? `${message.slice(0, MESSAGE_MAX_CHARS)}…` : message };
}
