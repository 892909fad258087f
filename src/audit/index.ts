/**
 * The auditor's toolkit (`baton/audit`): check a receipt chain offline, replay its
 * decisions through the Worker's own `decide()`, and ask what another workflow
 * version would have decided. Web-standard APIs only.
 */
export { ChainChecker, type ChainVerdict, type KeyLookup, verifyReceiptChain } from "./verify-chain.js";
export { type Divergence, Replayer, type ReplayResult, replayChain } from "./replay.js";
export { compileWorkflow, type CompiledWorkflow } from "../policy/compile.js";
export { isCompactJws, verifyJws } from "../tokens/jws.js";
export { DPOP_TYP, EVIDENCE_ALGORITHMS, TYP } from "../tokens/kinds.js";
export { approvalDigest, generateApproverKey, signApproval } from "../tokens/approval-signing.js";
export type { HeadClaims, ReceiptClaims } from "../tokens/receipt.js";
export { type CredentialListing, PasskeyApprovalAuditor, passkeyApprovalOf } from "./passkey-approvals.js";
export { verifyCredentialLog } from "../tokens/credential-log.js";
export { type Answer, mismatches, runWorkflowTests, type StepResult, type TestResult, type WorkflowTestsResult } from "./workflow-tests/run.js";
export { parseWorkflowTests, WorkflowTestError, type WorkflowTestIssue, type WorkflowTests } from "./workflow-tests/format.js";
export { type ShadowEntry, shadowEntry } from "../tokens/shadow-entry.js";
export { verifiedShadowEntry } from "./shadow-report.js";
export { workloadTokenOf, workloadTokenProblem } from "./workload-tokens.js";
