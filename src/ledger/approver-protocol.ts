import { z } from "zod";
import type { ReasonCode } from "../errors.js";
import { PASSKEY_CREDENTIAL_ID_MAX_BYTES } from "../tokens/passkey.js";

/**
 * The ApproverDirectory's RPC arguments and answers. The Worker is the only caller; the object
 * parses every argument anyway (a Durable Object is a boundary of its own).
 */
const Sha256 = z.string().regex(/^[A-Za-z0-9_-]{43}$/, "a base64url SHA-256");
const CredentialId = z.string().min(1).max(Math.ceil((PASSKEY_CREDENTIAL_ID_MAX_BYTES * 4) / 3));
const Approver = z.string().min(1).max(64);

export const IssueEnrolmentSchema = z.object({
  approver: Approver,
  operator: z.string().min(1),
  /** SHA-256 of the token: the token itself never reaches storage. */
  tokenSha256: Sha256,
  ttlSeconds: z.int().min(60).max(24 * 60 * 60),
});
export const EnrolmentTokenSchema = z.object({ tokenSha256: Sha256 });
export const CompleteEnrolmentSchema = z.object({ tokenSha256: Sha256, response: z.unknown() });
export const RevokeCredentialSchema = z.object({ approver: Approver, credentialId: CredentialId, reason: z.string().min(1).max(500), operator: z.string().min(1) });
export const CredentialLookupSchema = z.object({ approver: Approver, credentialId: CredentialId });
export const RecordCounterSchema = z.object({ credentialId: CredentialId, counter: z.int().nonnegative() });

/** A credential as the directory lists it (wire names). */
export interface ListedCredential {
  approver: string;
  credential_id: string;
  /** COSE_Key, base64url. */
  public_key: string;
  aaguid: string;
  counter: number;
  transports: string[];
  rp_id: string;
  /** Milliseconds since the epoch. */
  created_at: number;
  revoked_at: number | null;
  revoked_reason: string | null;
}

/** A typed answer: data, or a refusal with a stable code that the API renders in the one envelope. */
export type DirectoryAnswer<T> = { ok: true; value: T } | { ok: false; code: ReasonCode; message: string };

export const refusal = (code: ReasonCode, message: string) => ({ ok: false as const, code, message });

export interface DirectoryProtocol {
  issueEnrolment(input: z.input<typeof IssueEnrolmentSchema>): Promise<DirectoryAnswer<{ approver: string; expires_at: number }>>;
  enrolmentOptions(input: z.input<typeof EnrolmentTokenSchema>): Promise<DirectoryAnswer<{ approver: string; options: Record<string, unknown> }>>;
  completeEnrolment(input: z.input<typeof CompleteEnrolmentSchema>): Promise<DirectoryAnswer<{ credential: ListedCredential; log_entry: string }>>;
  list(): Promise<{ credentials: ListedCredential[]; log: string[] }>;
  revoke(input: z.input<typeof RevokeCredentialSchema>): Promise<DirectoryAnswer<{ credential: ListedCredential; log_entry: string }>>;
  credential(input: z.input<typeof CredentialLookupSchema>): Promise<DirectoryAnswer<ListedCredential>>;
  recordCounter(input: z.input<typeof RecordCounterSchema>): Promise<void>;
}

/** The one directory of this deployment (see README, "Passkey approvals"). */
export function directoryStub(namespace: Env["APPROVERS"]): DirectoryProtocol {
  return namespace.get(namespace.idFromName("approvers")) as unknown as DirectoryProtocol;
}
