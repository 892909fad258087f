import type { Keyring } from "./keys.js";
import { TYP } from "./kinds.js";

/** The events a webhook can subscribe to. */
export const WEBHOOK_EVENTS = ["escalated", "sealed", "revoked", "signal"] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/**
 * A notification as its receiver reads it, signed by the service key (`typ`
 * baton-event+jwt, verified against /.well-known/jwks.json). `jti` is stable per
 * event, so a receiver deduplicates the at-least-once delivery by it.
 */
export interface EventClaims {
  iss: string;
  jti: string;
  iat: number;
  event: WebhookEvent;
  console_url: string;
  /** Receipt events: the sequence, the receipt's position and hash, and the receipt (compact JWS). */
  seq?: string;
  n?: number;
  hash?: string;
  receipt?: string;
  /** Signal events: the party the analyst watches and the signal (compact JWS). */
  scope?: string;
  signal?: string;
}

export function signEvent(keyring: Keyring, claims: EventClaims): Promise<string> {
  return keyring.sign({ ...claims }, TYP.event);
}

/** Which event a receipt is, if any: the gate waits for approvals, or the sequence sealed (completed or revoked). */
export function receiptEvent(claims: { decision: string; effects: readonly { type: string; reason?: unknown }[] }): WebhookEvent | null {
  if (claims.decision === "ESCALATE") return "escalated";
  const seal = claims.effects.find((e) => e.type === "seal");
  if (seal) return seal.reason === "revoked" ? "revoked" : "sealed";
  return null;
}
