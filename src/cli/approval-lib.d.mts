import type { JWK } from "jose";

export declare const APPROVAL_TYP: "baton-approval+jwt";
export interface ApprovalSubject {
  seq: string;
  workflow: string;
  stage: string;
  opens: string | null;
  params: Record<string, unknown>;
  evidence: { iss: string; type: string; jti: string; digest: string }[];
}
export declare function approvalDigest(subject: ApprovalSubject): Promise<string>;
export declare function signApproval(options: {
  privateJwk: JWK & { "//"?: string };
  approver: string;
  subject: ApprovalSubject;
  decision?: "approve" | "reject";
  comment?: string;
  iat?: number;
  exp?: number;
  jti?: string;
}): Promise<string>;
export declare function generateApproverKey(kid: string): Promise<{ privateJwk: JWK; publicJwk: JWK }>;
