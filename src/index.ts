import { createApp } from "./api/app.js";

export { SequenceLedger } from "./ledger/sequence-ledger.js";
export { DevKeyVault } from "./config/dev-key-vault.js";
export { ActivityAnalyst } from "./analysis/analyst.js";
export { ApproverDirectory } from "./ledger/approver-directory.js";
export { SequenceIndex } from "./ledger/sequence-index.js";

const app = createApp();

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
