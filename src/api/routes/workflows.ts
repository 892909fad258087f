import { type OpenAPIHono, z } from "@hono/zod-openapi";
import { BatonError } from "../../errors.js";
import type { AppEnv } from "../context.js";
import { authedRoute } from "../openapi.js";
import { json } from "../respond.js";
import { WorkflowSummarySchema } from "../schemas.js";

const listRoute = authedRoute({
  method: "get",
  path: "/v1/workflows",
  summary: "The workflow contracts this deployment runs, with their version hashes",
  responses: {
    200: {
      description: "workflows",
      content: { "application/json": { schema: z.object({ workflows: z.array(WorkflowSummarySchema) }) } },
    },
  },
});

const getRoute = authedRoute({
  method: "get",
  path: "/v1/workflows/{id}",
  summary: "One workflow contract: its definition and hash (SHA-256 of its RFC 8785 canonical JSON)",
  request: { params: z.object({ id: z.string().max(64).openapi({ param: { name: "id", in: "path" } }) }) },
  responses: { 200: { description: "workflow" } },
});

export function registerWorkflows(app: OpenAPIHono<AppEnv>): void {
  app.openapi(listRoute, (c) => {
    const workflows = [...c.get("config").workflows.values()].map((w) => ({
      id: w.id,
      hash: w.hash,
      description: w.definition.description,
      stages: w.definition.stages.map((s) => s.id),
    }));
    return json({ workflows });
  });
  app.openapi(getRoute, (c) => {
    const workflow = c.get("config").workflows.get(c.req.valid("param").id);
    if (!workflow) throw new BatonError("UNKNOWN_WORKFLOW", "no such workflow");
    return json({ id: workflow.id, hash: workflow.hash, definition: workflow.definition });
  });
}
