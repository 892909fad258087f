import type { SequenceRecord } from "../policy/types.js";
import type { Caller } from "./protocol.js";

export type SequenceOperation = "describe" | "evidence" | "approval" | "delegate" | "capability" | "revoke" | "receipts";

/**
 * Who may touch an existing sequence. Pure and exhaustive; roles come from the
 * caller's credential, identities from the record fixed at start.
 */
export function mayAccess(caller: Caller, record: SequenceRecord, operation: SequenceOperation): boolean {
  const owner = caller.role === "orchestrator" && caller.id === record.orchestrator;
  const actor = caller.role === "agent" && caller.id === record.actor;
  switch (operation) {
    case "describe":
      // Approvers read what they are asked to approve; the approval itself is signed by their own key.
      return owner || actor || caller.role === "auditor" || caller.role === "approver";
    case "evidence":
      return owner || actor || caller.role === "attester";
    case "approval":
      return owner || actor || caller.role === "approver";
    case "capability":
    case "delegate":
      return actor;
    case "revoke":
      return owner;
    case "receipts":
      return owner || caller.role === "auditor";
  }
}
