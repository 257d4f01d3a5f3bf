// Everything served on an application's host: Cloudflare's `/cdn-cgi/access/*` endpoints of that
// host (authorized, get-identity, logout) and the protected path itself, proxied to the origin
// after the checks of the issue: token → the user's Durable Object → policies when groups changed.
import type { Context } from "hono";
import type { AppEnv } from "../../http/app-env";
import { findAppForRequest } from "../apps/lookup";
import { lenientRequestPath } from "../apps/domain";
import type { AppWithPolicies } from "../apps/types";
import { evaluatePolicies } from "../policy/evaluate";
import { directoryIdentity } from "../identity";
import { sessionsFor } from "../../sessions/client";
import { clearCookie, cookieValues, SESSION_COOKIE, setCookie } from "../cookies";
import { page } from "../pages";
import { checkAppRedirect } from "../login/redirects";
import { liveSessionFromTokens, resolveSession, teamOriginForAppHost, type LiveSession } from "../login/team";
import { appToken } from "../login/tokens";
import { forwardToOrigin } from "./forward";
import { matchRule } from "../../gateway/rules/engine";
import { loadRuleSet } from "../../gateway/rules-store";
import type { Identity } from "../../sessions/types";

type C = Context<AppEnv>;

/**
 * The app cookie's path: always `/`, as Cloudflare's, so the host's `/cdn-cgi/access/*` endpoints
 * (get-identity, logout) receive it whatever the app's path prefix. Two apps on one host therefore
 * share the cookie slot: moving to the other app re-authorizes through the org session (redirects,
 * no IdP prompt); tokens are told apart by `aud`, never by path.
 */
const cookiePath = (_found: AppWithPolicies) => "/";

/** Tokens presented for this host: the `cf-access-token` header (non-browser clients) first, then the cookies. */
function presentedTokens(request: Request): { tokens: string[]; fromHeader: boolean } {
  const header = request.headers.get("cf-access-token")?.trim();
  return { tokens: [...(header ? [header] : []), ...cookieValues(request.headers.get("cookie"), SESSION_COOKIE)], fromHeader: !!header };
}

const isXhr = (request: Request) => request.headers.get("x-requested-with")?.toLowerCase() === "xmlhttprequest";

/** Where an unauthenticated browser goes: the team host's login page for this app, back to this URL afterwards. */
function loginUrl(team: string, url: URL): string {
  return `${team}/cdn-cgi/access/login/${encodeURIComponent(url.host)}?redirect_url=${encodeURIComponent(url.href)}`;
}

/** No (valid) session: a redirect to login for browsers; 401 for XHR and token-bearing API clients. */
function loginRequired(c: C, team: string, found: AppWithPolicies, fromHeader: boolean, hadCookie: boolean): Response {
  const url = new URL(c.req.url);
  const login = loginUrl(team, url);
  const headers = new Headers({ "cache-control": "no-store" });
  if (hadCookie) headers.append("set-cookie", clearCookie(SESSION_COOKIE, cookiePath(found)));
  if (fromHeader || isXhr(c.req.raw)) {
    headers.set("content-type", "application/json");
    headers.set("www-authenticate", 'Bearer realm="Cloudflare Access"');
    return new Response(JSON.stringify({ error: "authentication_required", login_url: login }), { status: 401, headers });
  }
  headers.set("location", login);
  return new Response(null, { status: 302, headers });
}

const unavailable = () =>
  new Response("The session service is temporarily unavailable; retry shortly.", { status: 503, headers: { "retry-after": "1", "cache-control": "no-store", "content-type": "text/plain; charset=utf-8" } });

/**
 * Gateway HTTP rules (`filters: ["http"]`) on proxied Access traffic, with the session's identity
 * (SCIM groups at their current version) or none (bypass): a `block` answers 403 here, with the block
 * page when the rule asks for it; anything else lets the request on.
 */
async function gatewayHttpBlock(c: C, identity: Identity | null): Promise<Response | null> {
  const url = new URL(c.req.url);
  const rule = matchRule(await loadRuleSet(c.env), "http", {
    http: { host: url.hostname, path: lenientRequestPath(url.pathname) },
    identity: identity ? { email: identity.email, groups: identity.groups } : null,
  });
  if (!rule || rule.action !== "block") return null;
  if (rule.settings.block_page_enabled) return page(403, "Blocked", "Your organization's policy blocks this page.");
  return new Response("Blocked by your organization's policy.", { status: 403, headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" } });
}

/** A proxied request (every path of the app that is not `/cdn-cgi/access/*`). */
export async function proxyRequest(c: C, found: AppWithPolicies, team: string): Promise<Response> {
  const { app, policies, groupsById } = found;
  const ip = c.req.header("cf-connecting-ip") ?? null;
  // Bypass and service-auth policies are decided on the request alone, before any identity.
  const anonymous = evaluatePolicies(policies, null, { ip }, groupsById);
  if (anonymous.decision === "bypass" || anonymous.decision === "non_identity") {
    return (await gatewayHttpBlock(c, null)) ?? forwardToOrigin(c.req.raw, app, null);
  }

  const { tokens, fromHeader } = presentedTokens(c.req.raw);
  const resolved = await resolveSession(c.env, tokens, { audience: app.aud, type: "app", issuer: team });
  if (!("claims" in resolved)) {
    if (resolved.reason === "unavailable") return unavailable();
    return loginRequired(c, team, found, fromHeader, tokens.length > (fromHeader ? 1 : 0));
  }
  const { claims } = resolved;
  const check = resolved.check!;
  // Audiences are unique per app, but the session itself must be one of this app's too.
  if (check.appId !== app.id) return loginRequired(c, team, found, fromHeader, true);

  let assertion = resolved.token;
  const refreshed: string[] = [];
  if (check.groupsVersion !== claims.groups_version) {
    // The user's groups changed since this token was issued (an `automatic` update): decide again,
    // against the live directory, and carry the new version forward in a fresh token.
    const identity = await directoryIdentity(c.env.DB, claims.sub);
    if (!identity || !identity.active) return page(403, "Access denied", "Your account is not active in the directory.");
    const evaluation = evaluatePolicies(policies, identity, { ip }, groupsById);
    if (evaluation.decision !== "allow") {
      return page(403, "Access denied", `You no longer have access to ${app.name}. If you think you should, ask your administrator.`);
    }
    assertion = await appToken(c.env, team, app, { userId: claims.sub, email: claims.email, idpId: claims.idp_id, groupsVersion: check.groupsVersion }, resolved.session);
    if (!fromHeader) refreshed.push(setCookie(SESSION_COOKIE, assertion, { path: cookiePath(found), maxAge: claims.exp - Date.now() / 1000 }));
  }
  const blocked = await gatewayHttpBlock(c, check.identity);
  if (blocked) return blocked;
  const response = await forwardToOrigin(c.req.raw, app, { assertion, email: claims.email });
  if (refreshed.length === 0) return response;
  const out = new Response(response.body, response);
  for (const cookie of refreshed) out.headers.append("set-cookie", cookie);
  return out;
}

/** `GET /cdn-cgi/access/authorized?token=…&redirect_url=…`: sets this host's cookie from the team host's hand-off. */
async function authorized(c: C, team: string): Promise<Response> {
  const url = new URL(c.req.url);
  const raw = url.searchParams.get("redirect_url");
  let target: URL | null = null;
  try {
    target = raw ? new URL(raw) : null;
  } catch {
    target = null;
  }
  const found = target ? await findAppForRequest(c.env.DB, url.host, target.pathname) : null;
  const redirect = found ? checkAppRedirect(raw, found.app, team.startsWith("http:")) : null;
  if (!found || !redirect || redirect.host !== url.host) return page(400, "Invalid sign-in link", "The address to return to is not part of this application.");
  const live = await liveSessionFromTokens(c.env, [url.searchParams.get("token") ?? ""].filter(Boolean), { audience: found.app.aud, type: "app", issuer: team });
  if (!live) return page(401, "Sign-in expired", "This sign-in link is no longer valid.", [["Sign in again", loginUrl(team, redirect)]]);
  const maxAge = live.claims.exp - Math.floor(Date.now() / 1000);
  return new Response(null, {
    status: 302,
    headers: {
      location: redirect.href,
      "set-cookie": setCookie(SESSION_COOKIE, url.searchParams.get("token")!, { path: cookiePath(found), maxAge }),
      "cache-control": "no-store",
      "referrer-policy": "no-referrer",
    },
  });
}

/** The apps on this host whose tokens the request presents, each with the first live session. */
async function sessionOnHost(c: C, team: string): Promise<{ found: AppWithPolicies; live: LiveSession } | null> {
  const { tokens } = presentedTokens(c.req.raw);
  if (tokens.length === 0) return null;
  // The token names its app by audience; find the app on this host with that audience.
  const rows = await c.env.DB.prepare("SELECT id, path_prefix, aud FROM access_apps WHERE host = ?").bind(new URL(c.req.url).host.toLowerCase()).all<{ id: string; path_prefix: string; aud: string }>();
  for (const row of rows.results) {
    const live = await liveSessionFromTokens(c.env, tokens, { audience: row.aud, type: "app", issuer: team }, { allowEnded: c.req.path.endsWith("/logout") });
    if (live) {
      const found = await findAppForRequest(c.env.DB, new URL(c.req.url).host, row.path_prefix || "/");
      if (found) return { found, live };
    }
  }
  return null;
}

/** `GET /cdn-cgi/access/get-identity`: who the session is, with the directory's groups (Cloudflare's shape, trimmed). */
async function getIdentity(c: C, team: string): Promise<Response> {
  const on = await sessionOnHost(c, team);
  if (!on) return c.json({ err: "no valid session" }, 401, { "cache-control": "no-store" });
  const { claims } = on.live;
  const [identity, idp] = await Promise.all([
    directoryIdentity(c.env.DB, claims.sub),
    c.env.DB.prepare("SELECT id, type FROM identity_providers WHERE id = ?").bind(claims.idp_id).first<{ id: string; type: string }>(),
  ]);
  if (!identity) return c.json({ err: "no valid session" }, 401, { "cache-control": "no-store" });
  return c.json(
    {
      id: claims.sub,
      user_uuid: claims.sub,
      email: identity.email,
      name: identity.displayName ?? identity.userName,
      idp: { id: idp?.id ?? claims.idp_id, type: idp?.type ?? null },
      groups: identity.groups.map((g) => ({ id: g.id, name: g.name, ...(g.externalId ? { external_id: g.externalId } : {}) })),
      identity_nonce: claims.identity_nonce,
      iat: claims.iat,
    },
    200,
    { "cache-control": "no-store" },
  );
}

/** `GET /cdn-cgi/access/logout` on an app host: ends the login (org session and all its app sessions), then clears the org cookie too. */
async function logout(c: C, team: string): Promise<Response> {
  const on = await sessionOnHost(c, team);
  const headers = new Headers({ location: `${team}/cdn-cgi/access/logout`, "cache-control": "no-store" });
  if (on) {
    await sessionsFor(c.env, on.live.claims.sub).revokeLogin(on.live.claims.sid, "logout", `user:${on.live.claims.sub}`);
    headers.append("set-cookie", clearCookie(SESSION_COOKIE, cookiePath(on.found)));
  }
  return new Response(null, { status: 302, headers });
}

/** Serves a request on an app host (its `/cdn-cgi/access/*` endpoints, else the app that claims the path). */
export async function serveAppHost(c: C): Promise<Response> {
  const team = teamOriginForAppHost(c.var.config);
  const path = c.req.path;
  if (path.startsWith("/cdn-cgi/access/")) {
    if (c.req.method !== "GET" && c.req.method !== "HEAD") return page(405, "Method not allowed", "Use GET.");
    if (path === "/cdn-cgi/access/authorized") return authorized(c, team);
    if (path === "/cdn-cgi/access/get-identity") return getIdentity(c, team);
    if (path === "/cdn-cgi/access/logout") return logout(c, team);
    return page(404, "Not found", "No such Access endpoint.");
  }
  const found = await findAppForRequest(c.env.DB, new URL(c.req.url).host, path);
  // An app host serves its apps and nothing else: never the admin API or SCIM under a customer's hostname.
  if (!found) return page(404, "Not found", "No application is protected at this address.");
  return proxyRequest(c, found, team);
}
