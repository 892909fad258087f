import { freePort } from "./free-port.js";
import { startWranglerDev } from "./wrangler-dev.js";

/**
 * A Baton of a test file's own whose configuration is built for its URL (the shared global
 * setup's Baton keeps the development issuer, http://localhost:8787, which a client that
 * checks the issuer against the URL it fetched metadata from refuses).
 */
export async function startPrivateBaton(configFor: (url: string) => unknown): Promise<{ url: string; stop: () => void }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const { stop } = await startWranglerDev(configFor(url), "private", port);
  return { url, stop };
}
