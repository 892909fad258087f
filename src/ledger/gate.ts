import { BatonError } from "../errors.js";
import type { ReportedRefusal } from "../policy/offline-refusals.js";
import { verifyCapabilitySignature } from "../tokens/capability.js";
import { checkDpopProof } from "../tokens/dpop.js";
import type { Keyring } from "../tokens/keys.js";
import { type LedgerAnswer, refused } from "./answers.js";
import type { Caller } from "./protocol.js";
import { ledgerAt } from "./stub.js";

/** A capability presented for one action, as the tool server (or an AuthZEN PEP) hands it to the gate. */
export interface GatePresentation {
  caller: Caller;
  /** The tool that asks: the caller's own id, never one the body names. */
  tool: string;
  token: string;
  action: string;
  args: Record<string, unknown>;
  /** The DPoP proof the agent sent the tool, with the method and URL of that request. */
  dpop?: { proof: string; htm: string; htu: string } | undefined;
  /** The tool's own offline refusal of this capability, reported rather than redeemed. */
  refused?: ReportedRefusal | undefined;
  /**
   * Who the tool says presented the capability (an AuthZEN subject). Another agent than the
   * capability's actor is refused as the tool's report TOKEN_INVALID: receipted, nothing spent.
   */
  presenter?: string | undefined;
}

/**
 * The gate, shared by `POST /v1/redeem` and the AuthZEN evaluations: the capability's signature,
 * then its sequence's ledger decides. One path, so a permit is exactly a redeem, receipt and all.
 * A token that does not verify names no sequence we can trust, so its refusal is not receipted.
 */
export async function presentAtGate(
  namespace: Env["SEQUENCES"],
  deployment: { keyring: Keyring; issuer: string },
  presentation: GatePresentation,
): Promise<LedgerAnswer> {
  const check = await verifyCapabilitySignature(presentation.token, deployment.keyring, deployment.issuer);
  if (!check.ok) return refused(new BatonError("TOKEN_INVALID", check.message));
  let id: DurableObjectId;
  try {
    id = namespace.idFromString(check.claims.seq);
  } catch {
    return refused(new BatonError("TOKEN_INVALID", "capability names no sequence of this Baton"));
  }
  const { caller, tool, action, args, dpop, presenter } = presentation;
  const actor = check.claims.act.sub;
  // RFC 8693 §4.1: `act.sub` is the party acting now; a tool's word that someone else presents
  // the token is a refusal the tool could make offline, so it goes through the report path.
  const report =
    presentation.refused ??
    (presenter !== undefined && presenter !== actor
      ? { code: "TOKEN_INVALID" as const, message: `capability is held by ${actor}, not by ${presenter}, the subject the tool named`.slice(0, 500) }
      : undefined);
  return ledgerAt(namespace, id).redeem({
    caller,
    tool,
    action,
    args,
    token: check.claims,
    tokenDigest: check.digest,
    // The proof's signature is checked here; its binding, time and one-time jti by the ledger.
    dpop: dpop && { proof: await checkDpopProof(dpop.proof), htm: dpop.htm, htu: dpop.htu },
    ...(report ? { refused: report } : {}),
  });
}
