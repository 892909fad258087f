import { base64url } from "jose";

/**
 * A software WebAuthn authenticator for tests: an ES256 (P-256) key pair from WebCrypto and the
 * assertions a platform authenticator would return (W3C WebAuthn L3 §6.3.3,
 * authenticatorGetAssertion), so the verifier is tested on bytes it did not make itself. Every
 * field can be bent (flags, counter, RP ID, origin, type, crossOrigin) to build the attacks.
 * Runs on WebCrypto only (workerd and Node).
 */

/** authenticatorData flags (WebAuthn L3 §6.1): user present, user verified. */
export const FLAG_UP = 0x01;
export const FLAG_UV = 0x04;

export interface SoftAssertionOptions {
  /** Flags byte of authenticatorData; UP|UV unless told. */
  flags?: number;
  /** Signature counter to report; otherwise the authenticator's own, incremented per assertion. */
  counter?: number;
  /** RP ID whose SHA-256 heads authenticatorData; the authenticator's unless told. */
  rpId?: string;
  /** clientDataJSON.origin; the authenticator's unless told. */
  origin?: string;
  type?: string;
  crossOrigin?: boolean;
  /** The clientDataJSON text as is, for malformed ones; overrides the fields above. */
  clientDataJSON?: string;
}

/** The assertion, under the wire names of a passkey approval. */
export interface SoftAssertion {
  credential_id: string;
  authenticator_data: string;
  client_data_json: string;
  signature: string;
}

/** The bends of a registration: everything an assertion can bend, and the AAGUID. */
export interface SoftRegistrationOptions extends Omit<SoftAssertionOptions, "clientDataJSON"> {
  aaguid?: Uint8Array;
}

/** A registration response as PublicKeyCredential.toJSON() gives it (WebAuthn L3 §5.1.8). */
export interface SoftRegistration {
  id: string;
  rawId: string;
  type: "public-key";
  response: { clientDataJSON: string; attestationObject: string; transports: string[] };
  clientExtensionResults: Record<string, never>;
}

export interface SoftAuthenticator {
  rpId: string;
  origin: string;
  /** What enrolment stores: the credential id and the COSE public key, both base64url. */
  credential: { id: string; publicKey: string; counter: number };
  assert(challenge: string, options?: SoftAssertionOptions): Promise<SoftAssertion>;
  /** The answer to navigator.credentials.create() for `challenge`: attestation "none", attested credential data in authData. */
  register(challenge: string, options?: SoftRegistrationOptions): Promise<SoftRegistration>;
}

/** authenticatorData flag AT (WebAuthn L3 §6.1): attested credential data follows the counter. */
export const FLAG_AT = 0x40;

const encoder = new TextEncoder();

export async function createSoftAuthenticator(options: { rpId: string; origin: string; counter?: number }): Promise<SoftAuthenticator> {
  const keys = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"])) as CryptoKeyPair;
  const raw = new Uint8Array((await crypto.subtle.exportKey("raw", keys.publicKey)) as ArrayBuffer);
  const id = base64url.encode(crypto.getRandomValues(new Uint8Array(16)));
  let counter = options.counter ?? 0;
  return {
    rpId: options.rpId,
    origin: options.origin,
    credential: { id, publicKey: base64url.encode(coseEc2PublicKey(raw)), counter },
    async assert(challenge, bend = {}) {
      const signCount = bend.counter ?? ++counter;
      const authenticatorData = concat(
        await sha256Bytes(encoder.encode(bend.rpId ?? options.rpId)),
        Uint8Array.of(bend.flags ?? FLAG_UP | FLAG_UV),
        uint32(signCount),
      );
      const clientDataJSON =
        bend.clientDataJSON ??
        JSON.stringify({ type: bend.type ?? "webauthn.get", challenge, origin: bend.origin ?? options.origin, crossOrigin: bend.crossOrigin ?? false });
      const clientData = encoder.encode(clientDataJSON);
      const signed = concat(authenticatorData, await sha256Bytes(clientData));
      const p1363 = new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, keys.privateKey, signed));
      return {
        credential_id: id,
        authenticator_data: base64url.encode(authenticatorData),
        client_data_json: base64url.encode(clientData),
        signature: base64url.encode(derSignature(p1363)),
      };
    },
    async register(challenge, bend = {}) {
      const credentialId = base64url.decode(id);
      const authenticatorData = concat(
        await sha256Bytes(encoder.encode(bend.rpId ?? options.rpId)),
        Uint8Array.of(bend.flags ?? FLAG_UP | FLAG_UV | FLAG_AT),
        uint32(bend.counter ?? counter),
        bend.aaguid ?? new Uint8Array(16),
        Uint8Array.of(credentialId.length >> 8, credentialId.length & 0xff),
        credentialId,
        coseEc2PublicKey(raw),
      );
      const clientDataJSON = JSON.stringify({
        type: bend.type ?? "webauthn.create",
        challenge,
        origin: bend.origin ?? options.origin,
        crossOrigin: bend.crossOrigin ?? false,
      });
      return {
        id,
        rawId: id,
        type: "public-key",
        response: {
          clientDataJSON: base64url.encode(encoder.encode(clientDataJSON)),
          attestationObject: base64url.encode(noneAttestationObject(authenticatorData)),
          transports: ["internal"],
        },
        clientExtensionResults: {},
      };
    },
  };
}

/**
 * The attestation object of format "none" (WebAuthn L3 §6.5.4, §8.7), CBOR by hand for the
 * reason coseEc2PublicKey gives: map(3) {"fmt": "none", "attStmt": {}, "authData": bstr}, the
 * keys in CTAP2 canonical order (shorter first).
 */
export function noneAttestationObject(authData: Uint8Array): Uint8Array {
  const text = (value: string) => concat(Uint8Array.of(0x60 + value.length), encoder.encode(value)); // text(< 24)
  const bytes = (value: Uint8Array) =>
    value.length < 256 ? concat(Uint8Array.of(0x58, value.length), value) : concat(Uint8Array.of(0x59, value.length >> 8, value.length & 0xff), value);
  return concat(Uint8Array.of(0xa3), text("fmt"), text("none"), text("attStmt"), Uint8Array.of(0xa0), text("authData"), bytes(authData));
}

/**
 * The COSE_Key of an EC2 P-256 public key (RFC 9053 §7.1.1, the form WebAuthn stores), written
 * by hand: no library Baton depends on directly writes COSE keys (a CBOR encoder, tiny-cbor, only
 * arrives inside @simplewebauthn/server, whose decoder is the one under test, so the test's bytes
 * must not come from the same code). The map is fixed, five integer keys in CTAP2 canonical order:
 * {1 (kty): 2 (EC2), 3 (alg): -7 (ES256), -1 (crv): 1 (P-256), -2 (x): bstr 32, -3 (y): bstr 32}.
 * `raw` is the uncompressed SEC1 point 0x04 ‖ x ‖ y.
 */
export function coseEc2PublicKey(raw: Uint8Array): Uint8Array {
  if (raw.length !== 65 || raw[0] !== 0x04) throw new Error("expected an uncompressed P-256 point");
  return concat(
    Uint8Array.of(0xa5), // map(5)
    Uint8Array.of(0x01, 0x02), // 1: 2
    Uint8Array.of(0x03, 0x26), // 3: -7 (negative integer 6)
    Uint8Array.of(0x20, 0x01), // -1: 1
    Uint8Array.of(0x21, 0x58, 0x20), // -2: bstr(32)
    raw.subarray(1, 33),
    Uint8Array.of(0x22, 0x58, 0x20), // -3: bstr(32)
    raw.subarray(33, 65),
  );
}

/**
 * WebCrypto signs ECDSA as IEEE P1363 (r ‖ s, 32 bytes each); WebAuthn carries an ASN.1 DER
 * Ecdsa-Sig-Value (WebAuthn L3 §6.5.6): SEQUENCE { INTEGER r, INTEGER s }, each integer minimal
 * and positive (a 0x00 in front when its high bit is set). Lengths stay under 128, one byte each.
 */
export function derSignature(p1363: Uint8Array): Uint8Array {
  const integer = (bytes: Uint8Array) => {
    let start = 0;
    while (start < bytes.length - 1 && bytes[start] === 0) start++;
    const body = bytes.subarray(start);
    const padded = (body[0] as number) & 0x80 ? concat(Uint8Array.of(0), body) : body;
    return concat(Uint8Array.of(0x02, padded.length), padded);
  };
  const half = p1363.length / 2;
  const sequence = concat(integer(p1363.subarray(0, half)), integer(p1363.subarray(half)));
  return concat(Uint8Array.of(0x30, sequence.length), sequence);
}

function uint32(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value, false);
  return bytes;
}

async function sha256Bytes(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>));
}

export function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
