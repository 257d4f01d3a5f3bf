// Who may use the dashboard. Ways in:
// - a person: an org session on the team host (Access login through the IdP) whose directory
//   identity the dashboard policy allows (access_settings `dashboard_policy`, an Access policy);
// - a script: `Authorization: Bearer <ADMIN_TOKEN | API token>` (src/auth/admin-token.ts); a `read`
//   API token may only GET;
// - before any policy exists, anyone may reach /dashboard/setup, which itself asks for the break-glass
//   token before showing or changing anything (./pages/setup.tsx).
// Every state-changing request must come from the team origin and carry the CSRF token bound to the
// session or bearer token (src/portal/csrf.ts).
import { createMiddleware } from "hono/factory";
import type { Context } from "hono";
import { timingSafeEqualHex } from "../lib/crypto";
import { authenticateAdmin, bearerToken, isReadMethod } from "../auth/admin-token";
import { dashboardPolicy, DASHBOARD_POLICY_KEY } from "../access/dashboard-policy";
import { cookieValues, SESSION_COOKIE } from "../access/cookies";
import { liveSessionFromTokens, teamOrigin } from "../access/login/team";
import { DASHBOARD_PREFIX } from "../access/login/redirects";
import { directoryIdentity } from "../access/identity";
import { evaluatePolicies } from "../access/policy/evaluate";
import { csrfToken, csrfValid } from "../portal/csrf";
import type { DashboardEnv } from "./context";

export { dashboardPolicy, DASHBOARD_POLICY_KEY };

/** The first-run set-up's path. */
export const SETUP_PATH = `${DASHBOARD_PREFIX}/setup`;

const isSetupPath = (path: string) => path === SETUP_PATH || path.startsWith(`${SETUP_PATH}/`);

/**
 * Whether a state-changing request comes from another site: a foreign `Origin` (RFC 6454 §7; `null`
 * included), or `Sec-Fetch-Site: cross-site` from browsers that send no Origin on some requests.
 */
export function crossSite(headers: { origin?: string; secFetchSite?: string }, team: string): boolean {
  if (headers.origin !== undefined && headers.origin !== team) return true;
  return headers.secFetchSite === "cross-site";
}

/**
 * The CSRF token a request presents: the `x-csrf-token` header, else the `csrf` field of a form body.
 * The form is read from a CLONE of the request, so the handler can still read the body itself.
 */
export async function presentedCsrf(req: Request): Promise<string> {
  const header = req.headers.get("x-csrf-token");
  if (header) return header;
  const type = req.headers.get("content-type") ?? "";
  if (!/^(application\/x-www-form-urlencoded|multipart\/form-data)\b/i.test(type)) return "";
  const form = await req.clone().formData().catch(() => null);
  const value = form?.get("csrf");
  return typeof value === "string" ? value : "";
}

/** Checks Origin and the CSRF token of a non-GET request; a 403 Response when refused. */
export async function checkCsrf(c: Context<DashboardEnv>, team: string, expected: string): Promise<Response | null> {
  if (crossSite({ origin: c.req.header("origin"), secFetchSite: c.req.header("sec-fetch-site") }, team)) return c.text("Cross-origin form refused", 403);
  const token = await presentedCsrf(c.req.raw);
  if (!/^[0-9a-f]{64}$/.test(token) || !timingSafeEqualHex(token, expected)) return c.text("Invalid or missing CSRF token; reload the page", 403);
  return null;
}

const denied = (c: Context<DashboardEnv>) =>
  c.html("<!doctype html><title>Access denied</title><h1>Access denied</h1><p>You are not an administrator of this deployment.</p>", 403);

/** Lets admins (org session allowed by the policy, or an admin bearer token) through; others go to login, set-up, or a 403 page. */
export const dashboardGate = createMiddleware<DashboardEnv>(async (c, next) => {
  const path = new URL(c.req.url).pathname;
  const team = teamOrigin(c.var.config, c.req.url);
  const safe = isReadMethod(c.req.method);
  const authorization = c.req.header("authorization");
  if (authorization !== undefined) {
    const principal = await authenticateAdmin(c.env, bearerToken(authorization));
    if (!principal) return c.text("Invalid token", 401, { "www-authenticate": 'Bearer realm="dashboard"' });
    if (principal.scope !== "write" && !safe) return c.text("This API token is read-only; a write token is needed", 403);
    c.set("actor", principal.actor);
    c.set("scope", principal.scope);
    c.set("adminEmail", principal.actor === "admin:token" ? "break-glass token" : principal.actor);
    c.set("csrf", await csrfToken(c.env, `token:${principal.hash}`));
  } else {
    const live = await liveSessionFromTokens(c.env, cookieValues(c.req.header("cookie"), SESSION_COOKIE), { audience: team, type: "org", issuer: team });
    const policy = await dashboardPolicy(c.env.DB);
    // Before first-run set-up, the set-up page is open: it asks for the break-glass token itself.
    if (!policy && isSetupPath(path)) {
      if (!safe && crossSite({ origin: c.req.header("origin"), secFetchSite: c.req.header("sec-fetch-site") }, team)) return c.text("Cross-origin form refused", 403);
      return next();
    }
    if (!live) {
      const back = safe ? c.req.url : `${team}${DASHBOARD_PREFIX}/`;
      return c.redirect(`${team}/cdn-cgi/access/login/${encodeURIComponent(new URL(team).host)}?redirect_url=${encodeURIComponent(back)}`, 302);
    }
    if (!policy) return c.redirect(SETUP_PATH, 302);
    const identity = await directoryIdentity(c.env.DB, live.claims.sub);
    const decision = identity?.active ? evaluatePolicies([{ ...policy, decision: "allow" }], identity, { ip: c.req.header("cf-connecting-ip") ?? null }) : null;
    if (decision?.decision !== "allow") return denied(c);
    c.set("actor", `dashboard:${live.claims.sub}`);
    c.set("scope", "write");
    c.set("adminEmail", live.claims.email);
    c.set("csrf", await csrfToken(c.env, `dashboard:${live.claims.sid}`));
  }
  if (!safe) {
    const refused = await checkCsrf(c, team, c.var.csrf);
    if (refused) return refused;
  }
  await next();
});

export { csrfValid };
