import { html } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";

type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

/**
 * The console's Content-Security-Policy: its own script and stylesheet only, nothing inline,
 * no frames (an approval is never made inside another site's page), forms and fetches to
 * this origin only.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

export function pageHeaders(contentType: string): Record<string, string> {
  return {
    "content-type": contentType,
    "content-security-policy": CONSOLE_CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
  };
}

/** A console page: the shared head (viewport for phones), a header naming who is signed in, the one script. */
export function layout(title: string, body: Html, session?: { principal: string; csrf: string; rpId: string }): Html {
  return html`<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>${title} · Baton console</title>
    <link rel="stylesheet" href="/console/console.css" />
    ${session ? html`<meta name="baton-csrf" content="${session.csrf}" /><meta name="baton-principal" content="${session.principal}" /><meta name="baton-rp-id" content="${session.rpId}" />` : ""}
    <script src="/console/console.js" defer></script>
  </head>
  <body>
    <header>
      <a href="/console" class="brand">Baton console</a>
      ${session ? html`<span>Signed in as <strong>${session.principal}</strong></span> <button type="button" id="sign-out">Sign out</button>` : ""}
    </header>
    <main id="main">${body}</main>
  </body>
</html>`;
}

export const CONSOLE_CSS = `
:root { font-family: system-ui, sans-serif; line-height: 1.45; color: #1a1a1a; background: #fafafa; }
body { margin: 0; }
header { display: flex; flex-wrap: wrap; gap: .75rem; align-items: center; padding: .75rem 1rem; background: #1d3557; color: #fff; }
header a.brand { color: #fff; font-weight: 700; text-decoration: none; margin-right: auto; }
main { max-width: 46rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 1.5rem; }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #ddd; vertical-align: top; }
td code, pre { word-break: break-all; white-space: pre-wrap; }
code, [role=status] { overflow-wrap: anywhere; }
pre { background: #fff; border: 1px solid #ddd; padding: .75rem; font-size: .85rem; overflow-x: auto; }
button { font: inherit; padding: .6rem 1.1rem; border-radius: .4rem; border: 1px solid #1d3557; background: #fff; cursor: pointer; min-height: 44px; }
button.primary { background: #1d3557; color: #fff; } button.danger { border-color: #9b2226; color: #9b2226; }
button:focus-visible, a:focus-visible, input:focus-visible { outline: 3px solid #e9c46a; outline-offset: 2px; }
button:disabled { opacity: .5; cursor: not-allowed; }
.actions { display: flex; flex-wrap: wrap; gap: .75rem; margin: 1rem 0; }
.ok { color: #1b5e20; font-weight: 600; } .bad { color: #9b2226; font-weight: 600; }
ul.queue { list-style: none; padding: 0; } ul.queue li { background: #fff; border: 1px solid #ddd; border-radius: .4rem; padding: .75rem; margin-bottom: .75rem; }
label { display: block; margin: .5rem 0 .25rem; } input { font: inherit; padding: .4rem; width: 100%; box-sizing: border-box; }
[role=status] { min-height: 1.5em; }
@media (max-width: 30rem) { main { padding: .5rem; } th, td { padding: .25rem; font-size: .9rem; } }
`;
