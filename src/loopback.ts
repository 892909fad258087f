/** Hosts Baton may reach over plain http, and only in development: the machine itself. */
export const LOOPBACK_HOSTS = ["localhost", "127.0.0.1", "[::1]"] as const;

/** Whether a URL's host is the machine itself (URL.hostname keeps IPv6 brackets). */
export function isLoopbackUrl(url: URL): boolean {
  return (LOOPBACK_HOSTS as readonly string[]).includes(url.hostname);
}
