// Who may use the dashboard. Two ways in:
// - a person: an org session on the team host (Access login through the IdP) whose directory
//   identity the dashboard policy allows (access_settings `dashboard_policy`, an Access policy);
// - a script or the first-run set-up: `Authorization: Bearer <ADMIN_TOKEN>` (the break-glass token).
// Every state-changing request must carry the session's CSRF token (./csrf via src/portal/csrf).
import { createMiddleware } from "hono/factory";
import { sha256Hex, timingSafeEqualHex } from "../lib/crypto";
import { bearerToken } from "../auth/admin-token";
import { cookieValues, SESSION_COOKIE } from "../access/cookies";
import { liveSessionFromTokens, teamOrigin } from "../access/login/team";
import { DASHBOARD_PREFIX } from "../access/login/redirects";
import { directoryIdentity } from "../access/identity";
import { evaluatePolicies } from "../access/policy/evaluate";
import { parsePolicy } from "../access/policy/rules";
import { csrfToken, csrfValid } from "../portal/csrf";
import type { DashboardEnv } from "./context";

/** The access_settings key holding the dashboard's Access policy (JSON). */
export const DASHBOARD_POLICY_KEY = "dashboard_policy";

/** The dashboard policy, or null before first-run set-up. */
export async function dashboardPolicy(db: D1Database) {
  const row = await db.prepare("SELECT value FROM access_settings WHERE key = ?").bind(DASHBOARD_POLICY_KEY).first<{ value: string }>();
  if (!row) return null;
  const parsed = parsePolicy(JSON.parse(row.value));
  return parsed.ok ? parsed.value : null;
}

const isSafe = (method: string) => method === "GET" || method === "HEAD";

/** Lets signed-in admins (and the break-glass token) through; others go to login, set-up, or a 403 page. */
export const dashboardGate = createMiddleware<DashboardEnv>(async (c, next) => {
  const path = new URL(c.req.url).pathname;
  const team = teamOrigin(c.var.config, c.req.url);
  const presented = bearerToken(c.req.header("authorization"));
  if (presented) {
    const [a, b] = await Promise.all([sha256Hex(presented), sha256Hex(c.env.ADMIN_TOKEN ?? "")]);
    if (!c.env.ADMIN_TOKEN || !timingSafeEqualHex(a, b)) return c.text("Invalid token", 401);
    c.set("actor", "admin:token");
    c.set("adminEmail", "break-glass token");
    c.set("csrf", await csrfToken(c.env, `token:${a}`));
  } else {
    const live = await liveSessionFromTokens(c.env, cookieValues(c.req.header("cookie"), SESSION_COOKIE), { audience: team, type: "org", issuer: team });
    if (!live) {
      if (path.startsWith(`${DASHBOARD_PREFIX}/setup`)) return next();
      const back = isSafe(c.req.method) ? c.req.url : `${team}${DASHBOARD_PREFIX}/`;
      return c.redirect(`${team}/cdn-cgi/access/login/${encodeURIComponent(new URL(team).host)}?redirect_url=${encodeURIComponent(back)}`, 302);
    }
    const policy = await dashboardPolicy(c.env.DB);
    if (!policy) {
      if (path.startsWith(`${DASHBOARD_PREFIX}/setup`)) return next();
      return c.redirect(`${DASHBOARD_PREFIX}/setup`, 302);
    }
    const identity = await directoryIdentity(c.env.DB, live.claims.sub);
    const decision = identity?.active ? evaluatePolicies([{ ...policy, decision: "allow" }], identity, { ip: c.req.header("cf-connecting-ip") ?? null }) : null;
    if (decision?.decision !== "allow") return c.html("<!doctype html><title>Access denied</title><h1>Access denied</h1><p>You are not an administrator of this deployment.</p>", 403);
    c.set("actor", `dashboard:${live.claims.sub}`);
    c.set("adminEmail", live.claims.email);
    c.set("csrf", await csrfToken(c.env, `dashboard:${live.claims.sid}`));
  }
  if (!isSafe(c.req.method)) {
    const origin = c.req.header("origin");
    if (origin && origin !== team) return c.text("Cross-origin form refused", 403);
    const form = await c.req.raw.clone().formData().catch(() => null);
    const token = (form?.get("csrf") as string | null) ?? c.req.header("x-csrf-token") ?? "";
    if (token !== c.var.csrf) return c.text("Invalid or missing CSRF token; reload the page", 403);
  }
  await next();
});

export { csrfValid };
