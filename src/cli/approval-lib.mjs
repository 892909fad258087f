// What an approver's tools need — the digest of what is approved, the signing of an
// approval, a key — from the library (src/tokens/approval-signing.ts), so the approver
// CLI and the Worker's tests run the very same code. Kept for scripts that import it here.
export { approvalDigest, generateApproverKey, signApproval } from "baton/audit";
