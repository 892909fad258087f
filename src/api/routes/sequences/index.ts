import type { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../../context.js";
import { registerBundle } from "./bundle.js";
import { registerCapability, registerRevoke } from "./capability.js";
import { registerDelegate } from "./delegate.js";
import { registerApprovals, registerEvidence } from "./evidence.js";
import { registerDescribe, registerReceipts } from "./read.js";
import { registerStart } from "./start.js";

/** The sequence routes, one module per operation; registered in the order the OpenAPI document lists them. */
export function registerSequences(app: OpenAPIHono<AppEnv>): void {
  registerStart(app);
  registerDescribe(app);
  registerEvidence(app);
  registerApprovals(app);
  registerDelegate(app);
  registerCapability(app);
  registerRevoke(app);
  registerReceipts(app);
  registerBundle(app);
}
