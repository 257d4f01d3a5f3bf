// The team host's Access endpoints (Cloudflare's `<team>.cloudflareaccess.com/cdn-cgi/access/*`):
// login (steps 1–2 of the flow), the OIDC callback (3–6), logout, and the signing keys.
import { Hono, type Context } from "hono";
import type { AppEnv } from "../../http/app-env";
import { findAppForRequest } from "../apps/lookup";
import { findDirectoryUser } from "../identity";
import { finishLogin, startLogin, type VerifiedLogin } from "../oidc/client";
import { openSession } from "../../sessions/service";
import { sessionsFor } from "../../sessions/client";
import { certsResponse } from "../tokens/certs-response";
import { clearCookie, cookieValues, SESSION_COOKIE, setCookie } from "../cookies";
import { page } from "../pages";
import { authorizeApp } from "./authorize";
import { connectionById, loginConnections } from "./connections";
import { appRoot, checkAppRedirect, checkPortalRedirect } from "./redirects";
import type { AppWithPolicies } from "../apps/types";
import { clearLoginStateCookie, loginStateCookie, LOGIN_STATE_TTL_SECONDS, readLoginState } from "./state";
import { liveSessionFromTokens, teamOrigin } from "./team";
import { orgToken } from "./tokens";

/** How long one IdP login lasts on the team host (Cloudflare's default global session duration). */
export const ORG_SESSION_SECONDS = 24 * 3600;

type C = Context<AppEnv>;

export const teamRoutes = new Hono<AppEnv>();

const callbackUrl = (team: string) => `${team}/cdn-cgi/access/callback`;
const clientIp = (c: C) => c.req.header("cf-connecting-ip") ?? null;

/** The org session the team host's cookie proves, if it is still live in the user's object. */
async function currentOrgSession(c: C, team: string) {
  return liveSessionFromTokens(c.env, cookieValues(c.req.header("cookie"), SESSION_COOKIE), { audience: team, type: "org", issuer: team });
}

/**
 * What a login is for: an app (its host and path prefix), or the team host's own portal pages
 * (self-service, e.g. Gateway device enrollment), which need an org session and no app session.
 */
type LoginTarget = { kind: "app"; found: AppWithPolicies; name: string; host: string; allowedIdps: string[] } | { kind: "portal"; name: string; host: string; allowedIdps: string[] };

/**
 * `GET /cdn-cgi/access/login/:host?redirect_url=…[&idp=…]`: with a live org session, straight to
 * the app; otherwise to the IdP (PKCE, state and nonce in a sealed cookie). `redirect_url` must be
 * on the app's own host and path prefix (or, for the team host itself, under PORTAL_PREFIX).
 */
teamRoutes.get("/login/:host", async (c) => {
  const team = teamOrigin(c.var.config, c.req.url);
  const host = c.req.param("host").toLowerCase();
  const raw = c.req.query("redirect_url");
  const allowHttp = team.startsWith("http:");
  let target: LoginTarget;
  let redirect: URL | null;
  if (host === new URL(team).host) {
    target = { kind: "portal", name: "your organization's portal", host, allowedIdps: [] };
    redirect = checkPortalRedirect(raw, team);
    if (!redirect) return page(400, "Invalid sign-in link", "The address to return to after signing in is not a page of this portal.");
  } else {
    let path = "/";
    try {
      if (raw) path = new URL(raw).pathname;
    } catch {
      return page(400, "Invalid sign-in link", "The address to return to after signing in is not valid.");
    }
    const found = await findAppForRequest(c.env.DB, host, path);
    if (!found) return page(404, "Unknown application", "No application is protected at this address.");
    target = { kind: "app", found, name: found.app.name, host: found.app.host, allowedIdps: found.app.allowedIdps };
    redirect = raw ? checkAppRedirect(raw, found.app, allowHttp) : appRoot(found.app, allowHttp ? "http:" : "https:");
    if (!redirect) return page(400, "Invalid sign-in link", "The address to return to after signing in is not part of this application.");
  }

  const requestedIdp = c.req.query("idp");
  const org = requestedIdp ? null : await currentOrgSession(c, team);
  if (org && target.kind === "portal") return new Response(null, { status: 302, headers: { location: redirect.href, "cache-control": "no-store" } });
  if (org && target.kind === "app") {
    const outcome = await authorizeApp(c.env, team, target.found, { userId: org.claims.sub, orgSession: org.session, idpGroupClaims: [] }, redirect, clientIp(c));
    if (!outcome.orgSessionEnded) return outcome.response;
  }

  const connections = await loginConnections(c.env.DB, target.allowedIdps);
  const chosen = requestedIdp ? connections.find((x) => x.id === requestedIdp) : connections.length === 1 ? connections[0] : undefined;
  if (!chosen) {
    if (connections.length === 0) return page(503, "Sign-in is not available", `No identity provider is set up for ${target.name}. Ask your administrator.`);
    const links = connections.map((x): [string, string] => [
      `Sign in with ${x.name}`,
      `${team}/cdn-cgi/access/login/${encodeURIComponent(target.host)}?redirect_url=${encodeURIComponent(redirect!.href)}&idp=${encodeURIComponent(x.id)}`,
    ]);
    return page(requestedIdp ? 400 : 200, `Sign in to ${target.name}`, requestedIdp ? "That identity provider cannot be used here. Choose one:" : "Choose how to sign in:", links);
  }

  const start = await startLogin(c.env, chosen, callbackUrl(team));
  const cookie = await loginStateCookie(c.env, {
    state: start.state,
    nonce: start.nonce,
    codeVerifier: start.codeVerifier,
    idpId: chosen.id,
    appId: target.kind === "app" ? target.found.app.id : "",
    redirectUrl: redirect.href,
    expiresAt: Date.now() + LOGIN_STATE_TTL_SECONDS * 1000,
  });
  return new Response(null, { status: 302, headers: { location: start.authorizationUrl, "set-cookie": cookie, "cache-control": "no-store" } });
});

/**
 * The claim a login is matched to the directory by. An email the IdP marks unverified
 * (`email_verified: false`) is never used: whoever can set it could claim another person's account.
 * For Entra ID the UPN (`preferred_username`) comes first: it is what Entra's provisioning sends as
 * userName by default, and Entra's `email` claim is a mutable, unverified attribute (the "nOAuth"
 * account-takeover pattern).
 */
function directoryLoginName(type: string, login: VerifiedLogin): string | null {
  const email = login.claims.email_verified === false ? null : login.email;
  return type === "azureAD" ? (login.preferredUsername ?? email) : (email ?? login.preferredUsername);
}

/** `GET /cdn-cgi/access/callback`: the IdP's answer; on success the org session, then the app. */
teamRoutes.get("/callback", async (c) => {
  const team = teamOrigin(c.var.config, c.req.url);
  const url = new URL(c.req.url);
  const state = url.searchParams.get("state") ?? "";
  const login = await readLoginState(c.env, c.req.header("cookie") ?? null, state);
  if (!login) return page(400, "Sign-in expired", "This sign-in was started too long ago or in another browser. Go back to the application and try again.");
  const done = new Headers({ "set-cookie": clearLoginStateCookie(state) });
  const fail = (status: number, title: string, message: string) => page(status, title, message, [], done);

  const connection = await connectionById(c.env.DB, login.idpId);
  if (!connection) return fail(400, "Sign-in failed", "The identity provider of this sign-in no longer exists.");
  const result = await finishLogin(c.env, connection, callbackUrl(team), url, { state: login.state, nonce: login.nonce, codeVerifier: login.codeVerifier });
  if (!result.ok) return fail(401, "Sign-in failed", result.error);

  const loginName = directoryLoginName(connection.type, result.login);
  if (!loginName) return fail(403, "Access denied", `${connection.name} did not say who you are (no email in the ID token).`);
  const match = await findDirectoryUser(c.env.DB, connection.id, loginName);
  if (!match) {
    return fail(403, "Access denied", `${loginName} is not provisioned in the directory of ${connection.name}. Ask your administrator to assign you to this application.`);
  }
  if (match.ambiguous) return fail(403, "Access denied", `More than one account of ${connection.name} matches ${loginName}. Ask your administrator.`);
  if (!match.active) return fail(403, "Access denied", `The account ${loginName} is deactivated in the directory. Ask your administrator.`);

  const org = await openSession(c.env, match.id, { kind: "access", ttlSeconds: ORG_SESSION_SECONDS });
  if (!org.ok) return fail(403, "Access denied", `The account ${loginName} can no longer sign in (${org.error === "deprovisioned" ? "deprovisioned" : "deactivated"}). Ask your administrator.`);
  const orgSession = { sessionId: org.sessionId, expiresAt: org.expiresAt };
  // The org token names the user; policies are evaluated per app against the directory, never from it.
  const token = await orgToken(c.env, team, { userId: match.id, email: loginName.toLowerCase(), idpId: connection.id, groupsVersion: 0 }, orgSession);
  done.append("set-cookie", setCookie(SESSION_COOKIE, token, { path: "/", maxAge: ORG_SESSION_SECONDS }));

  // A portal login (no app): the org session is all it needed; the target was checked when the login started (and is sealed).
  if (login.appId === "") {
    done.set("location", login.redirectUrl);
    done.set("cache-control", "no-store");
    return new Response(null, { status: 302, headers: done });
  }
  const found = await findAppForRequest(c.env.DB, new URL(login.redirectUrl).host, new URL(login.redirectUrl).pathname);
  if (!found || found.app.id !== login.appId) return fail(404, "Unknown application", "The application you were signing in to no longer exists.");
  const redirect = checkAppRedirect(login.redirectUrl, found.app, team.startsWith("http:"));
  if (!redirect) return fail(400, "Invalid sign-in link", "The address to return to is no longer part of this application.");
  const outcome = await authorizeApp(c.env, team, found, { userId: match.id, orgSession, idpGroupClaims: result.login.groupsClaim }, redirect, clientIp(c), done);
  // The org session was opened a moment ago: it can only have ended through a logout or revocation since.
  if (outcome.orgSessionEnded) return fail(403, "Access denied", "Your session was ended while signing in. Try again.");
  return outcome.response;
});

/** `GET /cdn-cgi/access/logout` on the team host: ends this browser's login everywhere and clears the org cookie. */
teamRoutes.get("/logout", async (c) => {
  const team = teamOrigin(c.var.config, c.req.url);
  const live = await liveSessionFromTokens(c.env, cookieValues(c.req.header("cookie"), SESSION_COOKIE), { audience: team, type: "org", issuer: team }, { allowEnded: true });
  if (live) await sessionsFor(c.env, live.claims.sub).revokeLogin(live.claims.sid, "logout", `user:${live.claims.sub}`);
  return page(200, "Signed out", "You have been signed out of every application of this sign-in.", [], { "set-cookie": clearCookie(SESSION_COOKIE, "/") });
});

/** `GET /cdn-cgi/access/certs`: the public keys (and certificates) origins verify tokens with. */
teamRoutes.get("/certs", (c) => certsResponse(c.env));
