import { DurableObject } from "cloudflare:workers";
import type { z } from "zod";
import { loadKeyring } from "../config/keyring.js";
import { type BatonConfig, loadConfig } from "../config/load.js";
import { migrate } from "../storage/migrate.js";
import { type CredentialEvent, signCredentialLogEntry } from "../tokens/credential-log.js";
import type { Keyring } from "../tokens/keys.js";
import { type RelyingParty, passkeyRegistrationOptions, verifyPasskeyRegistration } from "../tokens/passkey-registration.js";
import {
  CompleteEnrolmentSchema,
  CredentialLookupSchema,
  type DirectoryAnswer,
  type DirectoryProtocol,
  EnrolmentTokenSchema,
  IssueEnrolmentSchema,
  type ListedCredential,
  RecordCounterSchema,
  RevokeCredentialSchema,
  refusal,
} from "./approver-protocol.js";
import { type CredentialRow, DIRECTORY_MIGRATIONS, DirectoryStore, type EnrolmentRow } from "./approver-store.js";

/**
 * The deployment's one directory of approvers' passkeys (one instance, by name): enrolments
 * (one-time tokens, stored as their SHA-256), credentials (public key, AAGUID, counter,
 * revocation) and a signed, hash-chained log of every registration and revocation. One
 * instance because the data is small (people, not requests) and every read must see the last
 * write: a consumed token, a revocation, a counter. Mutations run one at a time
 * (blockConcurrencyWhile), so the log's head and the token's state cannot race.
 */
export class ApproverDirectory extends DurableObject<Env> implements DirectoryProtocol {
  readonly #store: DirectoryStore;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#store = new DirectoryStore(ctx.storage.sql);
    migrate(ctx.storage, DIRECTORY_MIGRATIONS);
  }

  async issueEnrolment(raw: z.input<typeof IssueEnrolmentSchema>): Promise<DirectoryAnswer<{ approver: string; expires_at: number }>> {
    const input = IssueEnrolmentSchema.safeParse(raw);
    if (!input.success) return refusal("INVALID_REQUEST", "directory call is malformed");
    const { approver, operator, tokenSha256, ttlSeconds } = input.data;
    const config = await loadConfig(this.env);
    // Only configured approvers: the configuration carries their groups, the directory only their keys.
    if (!config.approvers.has(approver)) return refusal("NOT_FOUND", `no approver ${approver} in the configuration`);
    const now = Date.now();
    const expiresAt = now + ttlSeconds * 1000;
    this.#store.addEnrolment({ token_sha256: tokenSha256, approver, issued_by: operator, created_at: now, expires_at: expiresAt });
    return { ok: true, value: { approver, expires_at: Math.floor(expiresAt / 1000) } };
  }

  async enrolmentOptions(raw: z.input<typeof EnrolmentTokenSchema>): Promise<DirectoryAnswer<{ approver: string; options: Record<string, unknown> }>> {
    const input = EnrolmentTokenSchema.safeParse(raw);
    if (!input.success) return refusal("INVALID_REQUEST", "directory call is malformed");
    return this.#exclusive(async (config) => {
      const found = this.#liveEnrolment(config, input.data.tokenSha256);
      if (!found.ok) return found;
      const enrolment = found.value;
      const live = this.#store.credentialsOf(enrolment.approver).filter((c) => c.revoked_at === null);
      const approver = config.approvers.get(enrolment.approver);
      const options = await passkeyRegistrationOptions(relyingParty(config), { id: enrolment.approver, description: approver?.description }, live.map((c) => c.credential_id));
      // The latest options' challenge is the one the ceremony must answer.
      this.#store.setChallenge(enrolment.token_sha256, options.challenge);
      return { ok: true, value: { approver: enrolment.approver, options: options as unknown as Record<string, unknown> } };
    });
  }

  async completeEnrolment(raw: z.input<typeof CompleteEnrolmentSchema>): Promise<DirectoryAnswer<{ credential: ListedCredential; log_entry: string }>> {
    const input = CompleteEnrolmentSchema.safeParse(raw);
    if (!input.success) return refusal("INVALID_REQUEST", "directory call is malformed");
    return this.#exclusive(async (config, keyring) => {
      const found = this.#liveEnrolment(config, input.data.tokenSha256);
      if (!found.ok) return found;
      const enrolment = found.value;
      if (!enrolment.challenge) return refusal("SEQUENCE_VIOLATION", "ask for the creation options first (POST /v1/enrolments/options)");
      const rp = relyingParty(config);
      // A refused registration leaves the enrolment as it was: the person may try again until it expires.
      const checked = await verifyPasskeyRegistration(input.data.response, { challenge: enrolment.challenge, rp });
      if (!checked.ok) return refusal("EVIDENCE_INVALID", checked.message);
      const { credential } = checked;
      if (this.#store.credential(credential.id)) return refusal("INVALID_REQUEST", "this credential is already registered");
      const now = Date.now();
      const row: CredentialRow = {
        credential_id: credential.id,
        approver: enrolment.approver,
        public_key: credential.publicKey,
        aaguid: credential.aaguid,
        counter: credential.counter,
        transports: JSON.stringify(credential.transports),
        rp_id: rp.rpId,
        created_at: now,
        revoked_at: null,
        revoked_reason: null,
      };
      const event: CredentialEvent = {
        event: "register",
        approver: row.approver,
        credential_id: row.credential_id,
        public_key: row.public_key,
        aaguid: row.aaguid,
        rp_id: row.rp_id,
        enrolled_by: enrolment.issued_by,
      };
      const entry = await signCredentialLogEntry(keyring, config.issuer, this.#store.logHead(), event, now);
      this.ctx.storage.transactionSync(() => {
        this.#store.consume(enrolment.token_sha256, now);
        this.#store.addCredential(row);
        this.#store.appendLog(entry);
      });
      return { ok: true, value: { credential: listed(row), log_entry: entry.jws } };
    });
  }

  async list(): Promise<{ credentials: ListedCredential[]; log: string[] }> {
    return { credentials: this.#store.credentials().map(listed), log: this.#store.log() };
  }

  async revoke(raw: z.input<typeof RevokeCredentialSchema>): Promise<DirectoryAnswer<{ credential: ListedCredential; log_entry: string }>> {
    const input = RevokeCredentialSchema.safeParse(raw);
    if (!input.success) return refusal("INVALID_REQUEST", "directory call is malformed");
    const { approver, credentialId, reason, operator } = input.data;
    return this.#exclusive(async (config, keyring) => {
      const row = this.#store.credential(credentialId);
      if (!row || row.approver !== approver) return refusal("NOT_FOUND", `approver ${approver} has no credential ${credentialId}`);
      if (row.revoked_at !== null) return refusal("SEALED_SEQUENCE", "the credential is already revoked");
      const now = Date.now();
      const event: CredentialEvent = { event: "revoke", approver, credential_id: credentialId, reason, revoked_by: operator };
      const entry = await signCredentialLogEntry(keyring, config.issuer, this.#store.logHead(), event, now);
      this.ctx.storage.transactionSync(() => {
        this.#store.revoke(credentialId, now, reason);
        this.#store.appendLog(entry);
      });
      return { ok: true, value: { credential: listed({ ...row, revoked_at: now, revoked_reason: reason }), log_entry: entry.jws } };
    });
  }

  /** The approver's live credential by id: another approver's, a revoked or an unknown one is refused alike in kind, apart in message. */
  async credential(raw: z.input<typeof CredentialLookupSchema>): Promise<DirectoryAnswer<ListedCredential>> {
    const input = CredentialLookupSchema.safeParse(raw);
    if (!input.success) return refusal("INVALID_REQUEST", "directory call is malformed");
    const row = this.#store.credential(input.data.credentialId);
    if (!row) return refusal("EVIDENCE_INVALID", "no such passkey is registered");
    if (row.approver !== input.data.approver) return refusal("EVIDENCE_INVALID", `the passkey is not ${input.data.approver}'s`);
    if (row.revoked_at !== null) return refusal("EVIDENCE_INVALID", "the passkey was revoked");
    return { ok: true, value: listed(row) };
  }

  async recordCounter(raw: z.input<typeof RecordCounterSchema>): Promise<void> {
    const input = RecordCounterSchema.parse(raw);
    this.#store.raiseCounter(input.credentialId, input.counter);
  }

  /** The enrolment a token names, if it may still be used: unknown, consumed and expired ones each have their code. */
  #liveEnrolment(config: BatonConfig, tokenSha256: string): DirectoryAnswer<EnrolmentRow> {
    const enrolment = this.#store.enrolment(tokenSha256);
    if (!enrolment) return refusal("TOKEN_INVALID", "no such enrolment token");
    if (enrolment.consumed_at !== null) return refusal("REPLAY_NONCE", "this enrolment token was already used");
    if (enrolment.expires_at <= Date.now()) return refusal("TOKEN_EXPIRED", "this enrolment token has expired");
    if (!config.approvers.has(enrolment.approver)) return refusal("TOKEN_INVALID", `approver ${enrolment.approver} is no longer configured`);
    return { ok: true, value: enrolment };
  }

  /** Runs `work` with no other call of this object interleaved: the log head and a token's state are read and written in one go. */
  async #exclusive<T>(work: (config: BatonConfig, keyring: Keyring) => Promise<T>): Promise<T> {
    const [config, keyring] = await Promise.all([loadConfig(this.env), loadKeyring(this.env)]);
    let result = { failure: new Error("not run") } as { value: T } | { failure: unknown };
    await this.ctx.blockConcurrencyWhile(async () => {
      try {
        result = { value: await work(config, keyring) };
      } catch (failure) {
        result = { failure };
      }
    });
    if ("failure" in result) throw result.failure;
    return result.value;
  }
}

function relyingParty(config: BatonConfig): RelyingParty {
  return { rpId: config.passkeys.rp_id, rpName: config.passkeys.rp_name, origins: config.passkeys.origins };
}

function listed(row: CredentialRow): ListedCredential {
  return {
    approver: row.approver,
    credential_id: row.credential_id,
    public_key: row.public_key,
    aaguid: row.aaguid,
    counter: row.counter,
    transports: JSON.parse(row.transports) as string[],
    rp_id: row.rp_id,
    created_at: row.created_at,
    revoked_at: row.revoked_at,
    revoked_reason: row.revoked_reason,
  };
}
