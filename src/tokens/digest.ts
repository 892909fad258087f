import canonicalize from "canonicalize";
import { base64url } from "jose";

const encoder = new TextEncoder();

/** SHA-256 of a string (UTF-8) or bytes, as unpadded base64url (the JOSE habit, RFC 7638). */
export async function sha256(data: string | Uint8Array<ArrayBuffer>): Promise<string> {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  return base64url.encode(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
}

/** RFC 8785 (JCS) canonical JSON, so equal values always hash equal. */
export function canonicalJson(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError("value has no JSON representation");
  return text;
}

/** SHA-256 of the RFC 8785 canonical JSON of a value. */
export function digestJson(value: unknown): Promise<string> {
  return sha256(canonicalJson(value));
}
