import { z } from "zod";
import { CEL_EXPRESSION_MAX_CHARS, GRANT_ACTION_MAX_CHARS, GRANT_AUDIENCE_MAX_CHARS, GRANT_MAX_ACTIONS, GRANT_MAX_USES } from "../limits.js";

/**
 * A grant a delegating agent asks for its sub-agent: one schema for the API body
 * (api/schemas.ts) and the ledger's RPC (protocol.ts), so the two cannot bound it
 * differently. A module of its own, so the API's wire schemas import nothing else.
 */
export const DelegatedGrantSchema = z.strictObject({
  audience: z.string().min(1).max(GRANT_AUDIENCE_MAX_CHARS),
  actions: z.array(z.string().min(1).max(GRANT_ACTION_MAX_CHARS)).min(1).max(GRANT_MAX_ACTIONS),
  uses: z.int().min(1).max(GRANT_MAX_USES).default(1),
  where: z.string().min(1).max(CEL_EXPRESSION_MAX_CHARS).optional().describe("CEL, added to the parent grant's own condition"),
});
