import { BatonError } from "../errors.js";
import type { LedgerProtocol } from "./protocol.js";

/**
 * A SequenceLedger as its callers see it: the protocol, answering typed data.
 * workers-types cannot tell that an answer holding `unknown` (a decision's
 * details, a sequence's params) is serializable, and types such a result
 * `never`; every answer is JSON data by construction (answers.ts), so the stub is
 * typed by the protocol the class implements.
 */
export function ledgerAt(namespace: Env["SEQUENCES"], id: DurableObjectId): LedgerProtocol {
  return namespace.get(id) as unknown as LedgerProtocol;
}

/** The SequenceLedger named by a sequence id; an id this namespace did not mint names no sequence. */
export function sequenceStub(namespace: Env["SEQUENCES"], id: string): LedgerProtocol {
  let objectId: DurableObjectId;
  try {
    // Refuses ids this namespace did not mint, so guessing ids creates nothing.
    objectId = namespace.idFromString(id);
  } catch {
    throw new BatonError("UNKNOWN_SEQUENCE", "no such sequence");
  }
  return ledgerAt(namespace, objectId);
}
