// The decision function lives in ./decide/, one module per request kind; this path is
// where the ledger, the auditor's replay and the tests import it from.
export { decide } from "./decide/index.js";
export { evidenceItems } from "./gate-tally.js";
