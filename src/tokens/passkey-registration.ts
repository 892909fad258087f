import {
  type PublicKeyCredentialCreationOptionsJSON,
  type RegistrationResponseJSON,
  generateRegistrationOptions,
  verifyRegistrationResponse,
} from "@simplewebauthn/server";
import { base64url } from "jose";
import { z } from "zod";
import { isCanonicalBase64url } from "./jws.js";
import { PASSKEY_CLIENT_DATA_JSON_MAX_BYTES, PASSKEY_CREDENTIAL_ID_MAX_BYTES } from "./passkey.js";

/** An attestation object with "none" is authData plus a few bytes; a packed one carries a certificate chain (a few KiB). */
export const PASSKEY_ATTESTATION_OBJECT_MAX_BYTES = 16 * 1024;
/** How long the browser lets the person take over the ceremony. */
export const PASSKEY_CEREMONY_TIMEOUT_MS = 120_000;
/** Refusal messages quote the library's, which can quote hostile input: capped. */
const MESSAGE_MAX_CHARS = 300;

const b64 = (maxBytes: number) =>
  z
    .string()
    .min(1)
    .max(Math.ceil((maxBytes * 4) / 3))
    .refine(isCanonicalBase64url, "must be canonical unpadded base64url");

/**
 * The browser's answer to `navigator.credentials.create()` as JSON (WebAuthn L3
 * `PublicKeyCredential.toJSON()`, @simplewebauthn/browser's `startRegistration()`), bounded
 * before anything is decoded. Extra members the browsers add (authenticatorAttachment,
 * publicKey, publicKeyAlgorithm) are kept but not read: the key is taken from the attestation.
 */
export const RegistrationResponseSchema = z.looseObject({
  id: b64(PASSKEY_CREDENTIAL_ID_MAX_BYTES),
  rawId: b64(PASSKEY_CREDENTIAL_ID_MAX_BYTES),
  type: z.literal("public-key"),
  response: z.looseObject({
    clientDataJSON: b64(PASSKEY_CLIENT_DATA_JSON_MAX_BYTES),
    attestationObject: b64(PASSKEY_ATTESTATION_OBJECT_MAX_BYTES),
    transports: z.array(z.string().max(32)).max(8).optional(),
  }),
  clientExtensionResults: z.looseObject({}).default({}),
});
export type UnverifiedRegistrationResponse = z.infer<typeof RegistrationResponseSchema>;

export interface RelyingParty {
  rpId: string;
  rpName: string;
  origins: string[];
}

/**
 * The creation options of an approver's enrolment: user verification required (an approval
 * is a person's decision, and the assertion's UV flag is checked at every approval),
 * a discoverable credential preferred (so the console can sign in without a user name),
 * no attestation (Baton trusts the operator who issued the link, not the authenticator's
 * make), and the approver's credentials excluded so one authenticator is not enrolled twice.
 * The user handle is the SHA-256 of the approver id: stable per approver, and no name in it.
 */
export async function passkeyRegistrationOptions(
  rp: RelyingParty,
  approver: { id: string; description?: string | undefined },
  exclude: readonly string[],
): Promise<PublicKeyCredentialCreationOptionsJSON> {
  const userID = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`baton-approver:${approver.id}`)));
  return generateRegistrationOptions({
    rpName: rp.rpName,
    rpID: rp.rpId,
    userName: approver.id,
    userID,
    userDisplayName: approver.description ?? approver.id,
    timeout: PASSKEY_CEREMONY_TIMEOUT_MS,
    attestationType: "none",
    excludeCredentials: exclude.map((id) => ({ id })),
    authenticatorSelection: { residentKey: "preferred", userVerification: "required" },
  });
}

export type PasskeyRegistrationCheck =
  | { ok: true; credential: { id: string; publicKey: string; counter: number; aaguid: string; transports: string[] } }
  | { ok: false; message: string };

/**
 * Verifies a registration response against the challenge the enrolment stored, the RP ID and
 * the configured origins, user verification required. Never throws: hostile input becomes
 * `{ ok: false }`.
 */
export async function verifyPasskeyRegistration(input: unknown, expected: { challenge: string; rp: RelyingParty }): Promise<PasskeyRegistrationCheck> {
  const parsed = RegistrationResponseSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return fail(`registration response is malformed: ${issue?.path.join(".") || "(root)"} ${issue?.message}`);
  }
  const response = parsed.data;
  if (response.id !== response.rawId) return fail("registration response: id and rawId differ");
  try {
    const result = await verifyRegistrationResponse({
      response: response as unknown as RegistrationResponseJSON,
      expectedChallenge: expected.challenge,
      expectedOrigin: expected.rp.origins,
      expectedRPID: expected.rp.rpId,
      expectedType: "webauthn.create",
      requireUserPresence: true,
      requireUserVerification: true,
    });
    if (!result.verified) return fail("the registration does not verify");
    const { credential, aaguid, userVerified } = result.registrationInfo;
    if (!userVerified) return fail("user verification required, but the authenticator did not verify the user");
    // The library reads the id from the attested credential data; it must be the one the response names.
    if (credential.id !== response.id) return fail("the attested credential id is not the response's");
    return {
      ok: true,
      credential: {
        id: credential.id,
        publicKey: base64url.encode(credential.publicKey),
        counter: credential.counter,
        aaguid,
        transports: response.response.transports ?? [],
      },
    };
  } catch (error) {
    return fail(`registration refused: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function fail(message: string): PasskeyRegistrationCheck {
  return { ok: false, message: message.length > MESSAGE_MAX_CHARS ? `${message.slice(0, MESSAGE_MAX_CHARS)}…` : message };
}
