import type { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "./context.js";

import swaggerBundle from "../../node_modules/swagger-ui-dist/swagger-ui-bundle.js";
import swaggerCss from "../../node_modules/swagger-ui-dist/swagger-ui.css";

/**
 * The docs page: Swagger UI from swagger-ui-dist, whose script and stylesheet are
 * bundled into the Worker as text (wrangler.toml's rules). The page names no other
 * host, and its Content-Security-Policy forbids loading from one, so it works offline.
 * Only these two files of the package are reachable.
 */
const ASSET_FILES: Record<string, { type: string; body: string }> = {
  "swagger-ui.css": { type: "text/css; charset=utf-8", body: swaggerCss },
  "swagger-ui-bundle.js": { type: "text/javascript; charset=utf-8", body: swaggerBundle },
};

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  // Swagger UI (React) sets style attributes; its SVG icons are data: URLs.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const PAGE = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Baton API</title>
    <link rel="stylesheet" href="/docs/swagger-ui.css" />
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/docs/swagger-ui-bundle.js"></script>
    <script src="/docs/init.js"></script>
  </body>
</html>
`;

// A file of its own, not an inline script, so the CSP needs no 'unsafe-inline' for scripts.
// validatorUrl: null keeps Swagger UI from calling its online validator.
const INIT = `window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
});
`;

function pageHeaders(contentType: string): Record<string, string> {
  return {
    "content-type": contentType,
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "cache-control": "no-cache",
  };
}

export function registerDocs(app: OpenAPIHono<AppEnv>): void {
  app.get("/docs", (c) => c.body(PAGE, 200, pageHeaders("text/html; charset=utf-8")));
  app.get("/docs/init.js", (c) => c.body(INIT, 200, pageHeaders("text/javascript; charset=utf-8")));
  // One static route per file, not `/docs/:file`: a parameter beside the static `/docs/init.js`
  // is a route hono's RegExpRouter cannot take, and then every request of the API went
  // through the slower TrieRouter (test/unit/router.test.ts).
  for (const [file, asset] of Object.entries(ASSET_FILES)) {
    // The files change only with the swagger-ui-dist version, that is with a deploy.
    app.get(`/docs/${file}`, (c) => c.body(asset.body, 200, { ...pageHeaders(asset.type), "cache-control": "public, max-age=3600" }));
  }
}
