import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { NAMED_ROLES } from "../../src/config/schema.js";

// The docs page in Debian's Chromium against the real Baton (`wrangler dev`,
// test/node/global-setup.ts), with every request to anything but that server
// refused and recorded: the page must render offline, from the Worker's own assets.
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const skip = process.env.SKIP_BROWSER_TESTS === "1";
const base = inject("batonUrl");
const METHODS = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

interface OpenApiDocument {
  paths: Record<string, Record<string, unknown>>;
  components: { securitySchemes: Record<string, { description?: string }> };
}

/** Every operation of the document, as "METHOD path". */
function operationsOf(spec: OpenApiDocument): string[] {
  return Object.entries(spec.paths).flatMap(([path, item]) =>
    Object.keys(item)
      .filter((key) => METHODS.includes(key))
      .map((method) => `${method.toUpperCase()} ${path}`),
  );
}

describe.skipIf(skip)("the docs page, offline, in headless Chromium", () => {
  let context: BrowserContext;
  let profile: string;
  const foreign: string[] = [];
  const local: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH; SKIP_BROWSER_TESTS=1 skips)`);
    }
    profile = mkdtempSync(join(tmpdir(), "baton-docs-chromium-"));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
    });
    // Every request the page makes passes here: the server under test is served, anything else refused.
    await context.route("**/*", (route) => {
      const url = route.request().url();
      if (new URL(url).origin === base) {
        local.push(url);
        return route.continue();
      }
      foreign.push(url);
      return route.abort("blockedbyclient");
    });
  });

  afterAll(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it("the page and its assets come from the Worker, name no other host, and forbid loading from one", async () => {
    const response = await fetch(`${base}/docs`);
    expect(response.status).toBe(200);
    const html = await response.text();
    expect(html).not.toMatch(/https?:\/\/|\/\/[a-z0-9.-]+\.[a-z]{2,}\//i);
    const csp = response.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    for (const asset of html.matchAll(/(?:src|href)="([^"]+)"/g)) {
      const path = asset[1] as string;
      expect(path.startsWith("/docs/"), path).toBe(true);
      expect((await fetch(`${base}${path}`)).status, path).toBe(200);
    }
    // The assets binding holds all of swagger-ui-dist; only the page's own files are served.
    for (const unreachable of ["/docs/README.md", "/docs/index.html", "/docs/swagger-ui-bundle.js.map", "/index.html", "/swagger-ui.css"]) {
      expect((await fetch(`${base}${unreachable}`)).status, unreachable).toBe(404);
    }
  });

  it("renders every operation of /openapi.json, with no request leaving the local server", async () => {
    const spec = (await (await fetch(`${base}/openapi.json`)).json()) as OpenApiDocument;
    const operations = operationsOf(spec).sort();
    expect(operations.length).toBeGreaterThan(10);

    const page = await context.newPage();
    const problems: string[] = [];
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(message.text());
    });
    page.on("pageerror", (error) => problems.push(error.message));
    await page.goto(`${base}/docs`);
    await page.waitForFunction((count) => document.querySelectorAll(".opblock").length >= count, operations.length, { timeout: 20_000 });
    const rendered = await page.$$eval(".opblock", (blocks) =>
      blocks.map((block) => {
        const method = block.querySelector(".opblock-summary-method")?.textContent?.trim() ?? "?";
        const path = block.querySelector(".opblock-summary-path")?.getAttribute("data-path") ?? "?";
        return `${method.toUpperCase()} ${path}`;
      }),
    );
    expect(rendered.sort()).toEqual(operations);
    console.log(`docs page: ${rendered.length} operations rendered of ${operations.length} in /openapi.json`);

    // The bearer scheme, as the Authorize dialog shows it, names every role.
    await page.click(".auth-wrapper .authorize");
    // One container per scheme (the token endpoint's Basic one too): the bearer scheme's is the one naming roles.
    const containers = await page.$$eval(".auth-container", (all) => all.map((c) => c.textContent ?? ""));
    const dialog = containers.find((text) => text.includes("bearer")) ?? containers.join("\n");
    for (const role of [...NAMED_ROLES, "tool:<id>"]) expect(dialog, role).toContain(role);
    await page.screenshot({ path: join(tmpdir(), "baton-docs-page.png"), fullPage: false });

    expect(problems).toEqual([]);
    expect(foreign).toEqual([]);
    expect(local).toContain(`${base}/openapi.json`);
    await page.close();
  });

  it("the securitySchemes description names every role a client can have", async () => {
    const spec = (await (await fetch(`${base}/openapi.json`)).json()) as OpenApiDocument;
    const description = spec.components.securitySchemes.bearer?.description ?? "";
    for (const role of [...NAMED_ROLES, "tool:<id>"]) expect(description, role).toContain(`\`${role}\` `);
  });
});
