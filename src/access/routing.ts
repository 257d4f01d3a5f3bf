// Which surface a request is for. The team host (PUBLIC_BASE_URL) serves the admin API, SCIM and
// the login endpoints; any other host that an Access app is configured on is an app host, served by
// ./proxy/app-host.ts. Under `wrangler dev` the request URL carries the Host header the client sent
// (verified: `curl -H 'Host: app.example.test' http://127.0.0.1:8787/` arrives as
// `http://app.example.test/`); behind a Custom Domain or route in production it is the real host.
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../http/app-env";
import { listAppHosts } from "./apps/lookup";
import { normaliseRequestHost } from "./apps/domain";
import { serveAppHost } from "./proxy/app-host";

/**
 * The hosts that have apps, per isolate, so requests for the team host (SCIM, admin) never pay a D1
 * read to learn they are not proxied. A write through this isolate's admin API refreshes it at once;
 * other isolates pick up a new app within APP_HOSTS_TTL_MS. A deleted app stops being served at once
 * everywhere: the proxy reads the app itself from D1 on every request.
 */
const APP_HOSTS_TTL_MS = 5_000;
let appHosts: { hosts: Set<string>; at: number } | null = null;

/** Forgets the cached app hosts (called after every app write). */
export function invalidateAppHosts(): void {
  appHosts = null;
}

async function isAppHost(db: D1Database, host: string): Promise<boolean> {
  if (!appHosts || Date.now() - appHosts.at > APP_HOSTS_TTL_MS) {
    appHosts = { hosts: new Set(await listAppHosts(db)), at: Date.now() };
  }
  return appHosts.hosts.has(host);
}

/** Hands app-host requests to the Access proxy; everything else continues to the main router. */
export const accessRouting = createMiddleware<AppEnv>(async (c, next) => {
  const host = normaliseRequestHost(new URL(c.req.url).host);
  const team = c.var.config.publicBaseUrl;
  if (team && normaliseRequestHost(new URL(team).host) === host) return next();
  if (!(await isAppHost(c.env.DB, host))) return next();
  return serveAppHost(c);
});
