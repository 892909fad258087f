import { OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { configFailure, loadConfig } from "../config/load.js";
import { BatonError } from "../errors.js";
import { BODY_MAX_BYTES } from "../limits.js";
import { loadKeyring } from "../config/keyring.js";
import type { AppEnv } from "./context.js";
import { registerConsole } from "./console/index.js";
import { registerDocs } from "./docs.js";
import { fromHttpException, unmatchedRoute } from "./fallback.js";
import { BEARER_DESCRIPTION } from "./openapi.js";
import { json } from "./respond.js";
import { registerApprovers, registerEnrolments } from "./routes/approvers.js";
import { AUTHZEN_PATHS, echoPepRequestId, registerAuthzen } from "./routes/authzen/index.js";
import { registerDiscovery } from "./routes/discovery.js";
import { isOAuthPath, oauthErrorResponse, registerOAuth } from "./routes/oauth/index.js";
import { registerOutcomes } from "./routes/outcomes.js";
import { registerSignals } from "./routes/signals.js";
import { registerRedeem } from "./routes/redeem.js";
import { registerSequenceList } from "./routes/sequence-list.js";
import { registerSequences } from "./routes/sequences/index.js";
import { registerShadow } from "./routes/shadow.js";
import { registerWorkflows } from "./routes/workflows.js";

/** Builds the Baton HTTP API: every route declared once with its zod schemas. */
export function createApp(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({
    // zod failures render in the one envelope, as INVALID_REQUEST with the issues.
    defaultHook: (result) => {
      if (!result.success) {
        throw new BatonError("INVALID_REQUEST", "request does not match the schema", { details: result.error.issues });
      }
    },
  });

  // Not hono/request-id: it adopts a client's X-Request-Id (an id the client picks would name
  // its request in our log), and it sets the header before the handler, so a Response built
  // directly (respond.ts, onError, the receipts stream) goes out without it. (An AuthZEN PEP's
  // own id is answered back instead, as that spec requires: routes/authzen, `pepRequestId`.)
  app.use(async function requestId(c, next) {
    c.set("requestId", crypto.randomUUID());
    await next();
    c.res.headers.set("x-request-id", c.get("pepRequestId") ?? c.get("requestId"));
  });
  app.use(AUTHZEN_PATHS, echoPepRequestId);

  // Refused before any JSON or crypto work, with or without Content-Length.
  app.use(
    bodyLimit({
      maxSize: BODY_MAX_BYTES,
      onError: () => {
        throw new BatonError("PAYLOAD_TOO_LARGE", `body is larger than ${BODY_MAX_BYTES} bytes`);
      },
    }),
  );

  app.use(async function loadDeployment(c, next) {
    try {
      const [config, keyring] = await Promise.all([loadConfig(c.env), loadKeyring(c.env)]);
      c.set("config", config);
      c.set("keyring", keyring);
    } catch (error) {
      throw configFailure(error, c.env);
    }
    await next();
  });

  registerDiscovery(app);
  registerWorkflows(app);
  registerShadow(app);
  registerSequences(app);
  registerSequenceList(app);
  registerRedeem(app);
  registerOutcomes(app);
  registerSignals(app);
  registerApprovers(app);
  registerEnrolments(app);
  registerAuthzen(app);
  registerOAuth(app);

  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    description: BEARER_DESCRIPTION,
  });
  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "Baton",
      version: "1",
      description: "Staged capability issuer: one stage of authority at a time, the next only after verified evidence.",
    },
  });
  registerDocs(app);
  registerConsole(app);
  app.get("/", (c) => c.redirect("/docs"));

  const unmatched = unmatchedRoute(app);
  app.notFound((c) => {
    const { error, headers } = unmatched(c.req.method, c.req.path);
    if (isOAuthPath(c.req.path)) return oauthErrorResponse(error, c.get("requestId"), headers);
    return json(error.toJSON(), error.status, headers);
  });
  app.onError((error, c) => {
    // An OAuth client reads OAuth's error body only (RFC 6749 §5.2), whatever refused it.
    if (isOAuthPath(c.req.path)) return oauthErrorResponse(error, c.get("requestId") ?? "");
    const headers = { "x-request-id": c.get("requestId") ?? "" };
    if (error instanceof BatonError && error.code !== "INTERNAL") return json(error.toJSON(), error.status, headers);
    // Hono and its validators refuse some requests themselves (a body that is not
    // JSON, or not sent as JSON): each of those has its code too.
    const refused = fromHttpException(error);
    if (refused) return json(refused.toJSON(), refused.status, headers);
    // Anything else is ours: logged with the request id and answered with it. An unknown error
    // shows nothing else; Baton's own INTERNAL errors (a misconfigured deployment) keep their
    // message, and their details as diagnostics (configFailure sets them only in development).
    console.error(`internal error (request ${c.get("requestId")})`, error);
    const message = error instanceof BatonError ? error.message : "internal error";
    const details = error instanceof BatonError && error.details !== undefined ? error.details : undefined;
    return json(
      new BatonError("INTERNAL", message, { details: { request_id: c.get("requestId"), ...(details ? { diagnostics: details } : {}) } }).toJSON(),
      500,
      headers,
    );
  });
  return app;
}
