import { z } from "zod";
import { verifyJws } from "./jws.js";
import type { Keyring } from "./keys.js";
import { SIGNING_ALGORITHM, TYP } from "./kinds.js";
import { receiptHash } from "./receipt.js";

/**
 * The approver directory's log: every passkey registration and revocation, signed by the
 * service keyring and chained like receipts (`prev` is the SHA-256 of the entry before), so
 * an auditor rebuilds who held which public key, and since and until when, from the log alone
 * and trusts no unsigned listing. Its own `typ`: an entry is never mistaken for a receipt.
 */
const Base = { iss: z.string(), n: z.int().nonnegative(), prev: z.string().nullable(), at: z.number() };
export const CredentialLogEntrySchema = z.discriminatedUnion("event", [
  z.looseObject({
    ...Base,
    event: z.literal("register"),
    approver: z.string().min(1),
    credential_id: z.string().min(1),
    public_key: z.string().min(1),
    aaguid: z.string(),
    rp_id: z.string().min(1),
    /** The operator who issued the enrolment link. */
    enrolled_by: z.string(),
  }),
  z.looseObject({
    ...Base,
    event: z.literal("revoke"),
    approver: z.string().min(1),
    credential_id: z.string().min(1),
    reason: z.string(),
    revoked_by: z.string(),
  }),
]);
export type CredentialLogEntry = z.infer<typeof CredentialLogEntrySchema>;
export type CredentialEvent =
  | Omit<Extract<CredentialLogEntry, { event: "register" }>, keyof typeof Base>
  | Omit<Extract<CredentialLogEntry, { event: "revoke" }>, keyof typeof Base>;

export interface SignedLogEntry {
  n: number;
  hash: string;
  jws: string;
}

/** Signs the entry after `head` (null for the first). */
export async function signCredentialLogEntry(
  keyring: Keyring,
  issuer: string,
  head: { n: number; hash: string } | null,
  event: CredentialEvent,
  at: number,
): Promise<SignedLogEntry> {
  const n = head ? head.n + 1 : 0;
  const jws = await keyring.sign({ iss: issuer, n, prev: head?.hash ?? null, at, ...event }, TYP.credentialLog);
  return { n, hash: await receiptHash(jws), jws };
}

/** A credential as the log establishes it. */
export interface LoggedCredential {
  approver: string;
  credentialId: string;
  publicKey: string;
  rpId: string;
  registeredAt: number;
  revokedAt: number | null;
}

export type CredentialLogVerdict = { ok: true; credentials: Map<string, LoggedCredential> } | { ok: false; reason: string };

/**
 * Verifies a whole credential log — signatures by the service's keys, `typ`, `n` contiguous
 * from 0, each `prev` the hash of the entry before — and folds it into the credentials it
 * establishes. A revocation of an unknown credential, or of another approver's, breaks it.
 */
export async function verifyCredentialLog(
  entries: readonly string[],
  resolveKey: (kid: string) => { key: CryptoKey; alg: string } | undefined,
): Promise<CredentialLogVerdict> {
  const credentials = new Map<string, LoggedCredential>();
  let prev: string | null = null;
  for (const [index, jws] of entries.entries()) {
    const verified = await verifyJws(jws, { typ: TYP.credentialLog, algorithms: [SIGNING_ALGORITHM], resolveKey });
    if (!verified.ok) return { ok: false, reason: `credential log entry ${index}: ${verified.message}` };
    const parsed = CredentialLogEntrySchema.safeParse(verified.payload);
    if (!parsed.success) return { ok: false, reason: `credential log entry ${index}: not a credential log entry` };
    const entry = parsed.data;
    if (entry.n !== index) return { ok: false, reason: `credential log entry ${index}: n is ${entry.n} (an entry is missing or out of order)` };
    if (entry.prev !== prev) return { ok: false, reason: `credential log entry ${index}: prev does not match the entry before it` };
    prev = await receiptHash(jws);
    const known = credentials.get(entry.credential_id);
    if (entry.event === "register") {
      if (known) return { ok: false, reason: `credential log entry ${index}: credential ${entry.credential_id} registered twice` };
      credentials.set(entry.credential_id, {
        approver: entry.approver,
        credentialId: entry.credential_id,
        publicKey: entry.public_key,
        rpId: entry.rp_id,
        registeredAt: entry.at,
        revokedAt: null,
      });
    } else {
      if (!known || known.approver !== entry.approver || known.revokedAt !== null) {
        return { ok: false, reason: `credential log entry ${index}: revokes no live credential ${entry.credential_id} of ${entry.approver}` };
      }
      known.revokedAt = entry.at;
    }
  }
  return { ok: true, credentials };
}
