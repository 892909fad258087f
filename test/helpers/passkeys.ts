import { approvalDigest } from "../../src/tokens/approval-signing.js";
import { passkeyApprovalChallenge } from "../../src/tokens/passkey.js";
import { KEY, api, approvalRequest } from "../helpers.js";
import { type SoftAuthenticator, createSoftAuthenticator } from "./soft-authenticator.js";

/** The relying party the tests run with: the configuration's development defaults. */
export const RP_ID = "localhost";
export const ORIGIN = "http://localhost:8787";

export function issueEnrolment(approver: string, body?: Record<string, unknown>, key: string = KEY.operator) {
  return api("POST", `/v1/approvers/${approver}/enrolments`, { key, ...(body ? { body } : {}) });
}

export function enrolmentOptions(token: string) {
  return api("POST", "/v1/enrolments/options", { body: { token } });
}

export function completeEnrolment(token: string, response: unknown) {
  return api("POST", "/v1/enrolments/complete", { body: { token, response } });
}

export function credentials(key: string = KEY.auditor) {
  return api("GET", "/v1/approvers/credentials", { key });
}

/** Enrols a fresh software passkey for `approver` through the three calls a console makes. */
export async function enrolPasskey(approver: string): Promise<SoftAuthenticator> {
  const authenticator = await createSoftAuthenticator({ rpId: RP_ID, origin: ORIGIN });
  const issued = await issueEnrolment(approver);
  if (issued.status !== 201) throw new Error(`enrolment failed: ${issued.status} ${JSON.stringify(issued.body)}`);
  const options = await enrolmentOptions(issued.body.token);
  if (options.status !== 200) throw new Error(`options failed: ${options.status} ${JSON.stringify(options.body)}`);
  const completed = await completeEnrolment(issued.body.token, await authenticator.register(options.body.options.challenge));
  if (completed.status !== 201) throw new Error(`registration failed: ${completed.status} ${JSON.stringify(completed.body)}`);
  return authenticator;
}

export function revokePasskey(approver: string, credential: string, reason = "lost the phone", key: string = KEY.operator) {
  return api("POST", `/v1/approvers/${approver}/credentials/${credential}/revoke`, { key, body: { reason } });
}

export interface PasskeyApprovalOptions {
  decision?: "approve" | "reject";
  /** Sign this subject instead of the one Baton shows. */
  subject?: Record<string, unknown>;
  /** Claims to present instead of the signed ones (an assertion moved to other claims). */
  presented?: Record<string, unknown>;
  /** Name another approver as `iss`. */
  as?: string;
  jti?: string;
  iat?: number;
  counter?: number;
}

/** The passkey form of an approval of what `seq` shows, made with `authenticator` for `approver`. */
export async function passkeyApproval(seq: string, approver: string, authenticator: SoftAuthenticator, options: PasskeyApprovalOptions = {}) {
  const subject = options.subject ?? (await approvalRequest(seq))?.subject;
  if (!subject) throw new Error(`sequence ${seq} shows nothing to approve`);
  const claims = {
    iss: options.as ?? approver,
    seq: subject.seq as string,
    stage: subject.stage as string,
    decision: options.decision ?? "approve",
    digest: await approvalDigest(subject as never),
    iat: options.iat ?? Math.floor(Date.now() / 1000),
    jti: options.jti ?? crypto.randomUUID(),
  } as const;
  const assertion = await authenticator.assert(await passkeyApprovalChallenge(claims), options.counter === undefined ? {} : { counter: options.counter });
  return { claims: { ...claims, ...options.presented }, ...assertion };
}

export function submitPasskey(seq: string, passkey: unknown, key: string = KEY.approvals) {
  return api("POST", `/v1/sequences/${seq}/approvals`, { key, body: { passkey } });
}

export async function approveWithPasskey(seq: string, approver: string, authenticator: SoftAuthenticator, options: PasskeyApprovalOptions = {}) {
  return submitPasskey(seq, await passkeyApproval(seq, approver, authenticator, options));
}
