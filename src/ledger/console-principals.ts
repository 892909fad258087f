import type { BatonConfig } from "../config/load.js";

/** The client roles that may enrol a passkey and sign in to the console, besides approvers. */
export const CONSOLE_CLIENT_ROLES = ["operator", "orchestrator", "auditor"] as const;
export type ConsoleRole = "approver" | (typeof CONSOLE_CLIENT_ROLES)[number];

/**
 * Who a console passkey's owner id names: an approver of the configuration first, else a
 * configured client with a console role. An API key stays with machines; a person who operates,
 * orchestrates or audits enrols a passkey for their client id and signs in with it, acting with
 * exactly that client's role. A passkey of a client can never approve: approvals look the id up
 * among the approvers only (tokens/passkey-approval-check.ts).
 */
export function consolePrincipal(config: BatonConfig, id: string): { id: string; role: ConsoleRole } | null {
  if (config.approvers.has(id)) return { id, role: "approver" };
  const client = config.clients.find((c) => c.id === id);
  const role = (CONSOLE_CLIENT_ROLES as readonly string[]).includes(client?.role ?? "") ? (client?.role as ConsoleRole) : null;
  return role ? { id, role } : null;
}
