import devConfig from "../../examples/dev-config.json";
import codeReview from "../../examples/workflows/code-review.json";
import dataMigration from "../../examples/workflows/data-migration.json";
import deployment from "../../examples/workflows/deployment.json";
import incidentResponse from "../../examples/workflows/incident-response.json";
import reimbursement from "../../examples/workflows/reimbursement.json";
import release from "../../examples/workflows/release.json";
import reportPublication from "../../examples/workflows/report-publication.json";
import researchBrief from "../../examples/workflows/research-brief.json";

/**
 * DEVELOPMENT ONLY: the example workflows, attesters and clients bundled with the
 * Worker. Their credentials are public; `loadConfig` refuses them outside development.
 */
export const BUNDLED_EXAMPLE_CONFIG = {
  ...devConfig,
  workflows: [deployment, dataMigration, codeReview, reimbursement, incidentResponse, reportPublication, researchBrief, release],
};
