import { unverifiedReceiptClaims } from "../../tokens/receipt.js";

/** One receipt as the timeline shows it: decoded on the server, the signature checked by the auditor's CLI, not here. */
export interface TimelineRow {
  n: number;
  at: string;
  kind: string;
  stage: string;
  decision: string;
  code: string | null;
  who: string;
  message: string;
  passkey: boolean;
}

/**
 * A receipt JWS's claims as a timeline row. The receipts come from the sequence's own ledger
 * (they are its signed chain), so a payload that does not decode is shown as such rather than
 * trusted or refused.
 */
export function timelineRow(jws: string, index: number): TimelineRow {
  let claims: Record<string, unknown>;
  try {
    claims = unverifiedReceiptClaims(jws) as unknown as Record<string, unknown>;
  } catch {
    return { n: index, at: "", kind: "(undecodable)", stage: "", decision: "", code: null, who: "", message: "", passkey: false };
  }
  const inputs = claims.inputs;
  const at = typeof claims.at === "number" ? new Date(claims.at).toISOString().replace(/\.\d{3}Z$/, "Z") : "";
  return {
    n: typeof claims.n === "number" ? claims.n : index,
    at,
    kind: String(claims.kind ?? ""),
    stage: String(claims.stage ?? ""),
    decision: String(claims.decision ?? ""),
    code: typeof claims.code === "string" ? claims.code : null,
    who: whoOf(inputs),
    message: String(claims.message ?? "").slice(0, 200),
    passkey: pick(inputs, "approval", "method") === "passkey",
  };
}

/** Who made the request a receipt records: the approver, the attester, the tool, the orchestrator or the agent. */
function whoOf(inputs: unknown): string {
  const text = (value: unknown, fallback = "") => (typeof value === "string" ? value : fallback);
  switch (pick(inputs, "kind")) {
    case "approval":
      return text(pick(inputs, "approval", "approver", "id"), "(refused approval)");
    case "evidence":
      // A workload token's iss is its issuer's URL; the attester is the configuration's name for it.
      return text(pick(inputs, "attestation", "attester") ?? pick(inputs, "attestation", "claims", "iss"), "(refused attestation)");
    case "redeem":
    case "outcome":
      return text(pick(inputs, "tool"));
    case "start":
    case "revoke":
      return text(pick(inputs, "orchestrator"));
    case "reissue":
      return text(pick(inputs, "agent"));
    case "delegate":
      return text(pick(inputs, "actor"));
    default:
      return "";
  }
}

/** value[k1][k2]…, or undefined where a step is not an object. */
function pick(value: unknown, ...keys: string[]): unknown {
  let at = value;
  for (const key of keys) {
    if (typeof at !== "object" || at === null || !Object.hasOwn(at, key)) return undefined;
    at = (at as Record<string, unknown>)[key];
  }
  return at;
}
