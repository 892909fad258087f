import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { VerifierError } from "./errors.js";

// How the MCP guard tells an agent it was refused, shared by the tool guard (an MCP tool
// error) and the endpoint guard (an HTTP 401/403 with a JSON-RPC error body): the same
// `_meta` keys, the same words.

/** Result `_meta` key of a refusal's stable code; handler `extra._meta` never has it. */
export const CODE_META = "baton/code";
/** Result `_meta` key of a refusal's receipt (null when the gate did not decide); handler `extra._meta` key of the ALLOW receipt. */
export const RECEIPT_META = "baton/receipt";
/**
 * Result `_meta` key of the sequence's current stage when Baton refused (from the refusal's
 * signed receipt; null without one): after SEQUENCE_VIOLATION, the stage that is open.
 */
export const CURRENT_STAGE_META = "baton/current_stage";

/** What a refusal says to the agent, as `_meta` (tool error) or JSON-RPC error `data` (HTTP). */
export type RefusalMeta = {
  [CODE_META]: VerifierError["code"];
  [RECEIPT_META]: string | null;
  [CURRENT_STAGE_META]: string | null;
};

/** A refusal as an MCP tool result. */
export type RefusalResult = CallToolResult & { isError: true; _meta: RefusalMeta };

/** The tool result of a refusal: `isError`, the code and message as text, code, receipt and current stage in `_meta`. */
export function refusalResult(error: VerifierError): RefusalResult {
  return { isError: true, content: [{ type: "text", text: refusalText(error) }], _meta: refusalMeta(error) };
}

export function refusalMeta(error: VerifierError): RefusalMeta {
  return { [CODE_META]: error.code, [RECEIPT_META]: error.receipt, [CURRENT_STAGE_META]: error.currentStage };
}

/**
 * "<CODE>: <message>", and the stage the sequence is in when Baton's receipt names it: the
 * agent reads the text, not `_meta`. (An offline refusal's words know only the token, whose
 * stage they call current; the receipt knows the sequence.)
 */
export function refusalText(error: VerifierError): string {
  const stage = error.currentStage ? ` (Baton's receipt: the sequence is in stage ${error.currentStage})` : "";
  return `${error.code}: ${error.message}${stage}`;
}
