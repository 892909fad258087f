import type { OpenAPIHono } from "@hono/zod-openapi";
import { BatonError } from "../errors.js";
import type { AppEnv } from "./context.js";

/**
 * The docs page: Swagger UI served from swagger-ui-dist, which wrangler.toml uploads
 * with the Worker as static assets (binding ASSETS). The page names no other host, and
 * its Content-Security-Policy forbids loading from one, so it works offline.
 *
 * Only the files the page needs are reachable: the assets binding holds the whole
 * package (README, source maps...), and `run_worker_first` sends every request here.
 */
const ASSET_FILES: Record<string, string> = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "favicon-32x32.png": "image/png",
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
    <link rel="icon" type="image/png" href="/docs/favicon-32x32.png" />
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
  app.get("/docs/:file", async (c) => {
    const file = c.req.param("file");
    const type = Object.hasOwn(ASSET_FILES, file) ? ASSET_FILES[file] : undefined;
    if (!type) throw new BatonError("NOT_FOUND", "no such file of the docs page");
    // (No binding when the app runs without wrangler.toml's [assets], e.g. in another host.)
    const asset = c.env.ASSETS ? await c.env.ASSETS.fetch(new URL(`/${file}`, c.req.url)) : null;
    if (!asset?.ok) throw new BatonError("NOT_FOUND", "the docs page's assets are not deployed with this Worker");
    const headers = new Headers(asset.headers);
    for (const [name, value] of Object.entries(pageHeaders(type))) headers.set(name, value);
    // The assets change only with the swagger-ui-dist version, that is with a deploy.
    headers.set("cache-control", "public, max-age=3600");
    return new Response(asset.body, { status: 200, headers });
  });
}
