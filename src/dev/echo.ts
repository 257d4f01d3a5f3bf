import { Hono } from "hono";
import type { AppEnv } from "../http/app-env";

/**
 * A development origin at `/__dev/echo`, so `npm run dev` can show what an Access app's origin
 * receives: it answers 200 with the method, path, query and every request header it got, among them
 * `cf-access-jwt-assertion` and `cf-access-authenticated-user-email` set by the proxy
 * (src/access/proxy/forward.ts). Use it as an app's `origin` (`<base>/__dev/echo`; the proxy appends
 * the request's path). Answered only when DEV_ROUTES is on, and NOT behind the admin token: the
 * proxy calls it as an origin, with the user's request, not an admin's. It reflects what it is sent
 * and nothing else (no state, no secrets of ours), so it gives an unauthenticated caller nothing.
 */
export const devEchoRoutes = new Hono<AppEnv>();

devEchoRoutes.all("*", (c) => {
  if (!c.var.config.devRoutes) return c.json({ success: false, errors: [{ code: 10404, message: "Route not found" }], messages: [], result: null }, 404);
  const url = new URL(c.req.url);
  const query: Record<string, string[]> = {};
  for (const [k, v] of url.searchParams) (query[k] ??= []).push(v);
  const headers: Record<string, string> = {};
  for (const [k, v] of c.req.raw.headers) headers[k] = v;
  return c.json({ method: c.req.method, path: url.pathname, query, headers }, 200, { "cache-control": "no-store" });
});
