// The last steps of a login (Cloudflare's flow, steps 4–6): the person is known to the directory and
// holds a live org session; evaluate the app's policies against the LIVE directory, open the app
// session in the user's Durable Object (as a child of the org session), and send the browser to the
// app host's `/cdn-cgi/access/authorized` with the app token.
import { evaluatePolicies, type PolicyIdentity } from "../policy/evaluate";
import { parseDuration } from "../apps/duration";
import type { AppWithPolicies } from "../apps/types";
import { directoryIdentity } from "../identity";
import { openSession } from "../../sessions/service";
import { page } from "../pages";
import { appToken, type OpenedSession } from "./tokens";

/** Who is signing in: the directory user and the org session they hold. */
export interface SignedInUser {
  userId: string;
  orgSession: OpenedSession;
  /** The IdP token's `groups` claim, used only by connections without SCIM. */
  idpGroupClaims: string[];
}

/** What the caller needs to finish: a response, plus whether the org session turned out to be gone. */
export type AuthorizeOutcome = { response: Response; orgSessionEnded?: false } | { orgSessionEnded: true };

/** The fallback when neither the policy nor the app names a valid duration (Cloudflare's default). */
const DEFAULT_SESSION_SECONDS = 24 * 3600;

/** Evaluates `found`'s policies for `user` and, when allowed, opens the app session and redirects to the app host. */
export async function authorizeApp(
  env: Env,
  team: string,
  found: AppWithPolicies,
  user: SignedInUser,
  redirect: URL,
  clientIp: string | null,
  extraHeaders: HeadersInit = {},
): Promise<AuthorizeOutcome> {
  const { app } = found;
  const directory = await directoryIdentity(env.DB, user.userId);
  if (!directory || !directory.active) {
    return { response: page(403, "Access denied", "Your account is not active in the directory. Ask your administrator.", [], extraHeaders) };
  }
  if (app.allowedIdps.length > 0 && !app.allowedIdps.includes(directory.idpId)) {
    // Signed in through a connection this app does not accept: start over with one it does.
    const retry = `${team}/cdn-cgi/access/login/${encodeURIComponent(app.host)}?redirect_url=${encodeURIComponent(redirect.href)}&idp=${encodeURIComponent(app.allowedIdps[0]!)}`;
    return { response: page(403, "Another sign-in is needed", `${app.name} does not accept the identity provider you signed in with.`, [["Sign in with an accepted provider", retry]], extraHeaders) };
  }
  const identity: PolicyIdentity = { ...directory, idpGroupClaims: user.idpGroupClaims };
  const evaluation = evaluatePolicies(found.policies, identity, { ip: clientIp }, found.groupsById);
  if (evaluation.decision === "bypass" || evaluation.decision === "non_identity") {
    return { response: Response.redirect(redirect.href, 302) };
  }
  if (evaluation.decision !== "allow") {
    // The reason stays out of the page (it names groups and rules); the simulator shows it to admins.
    return { response: page(403, "Access denied", `You do not have access to ${app.name}. If you think you should, ask your administrator.`, [], extraHeaders) };
  }
  const policy = found.policies.find((p) => p.precedence === evaluation.policy?.precedence && p.name === evaluation.policy?.name);
  const ttlSeconds = parseDuration(policy?.sessionDuration ?? app.sessionDuration) ?? DEFAULT_SESSION_SECONDS;
  const opened = await openSession(env, user.userId, { kind: "access", appId: app.id, parentSessionId: user.orgSession.sessionId, ttlSeconds });
  if (!opened.ok) {
    if (opened.error === "parent_ended") return { orgSessionEnded: true };
    return { response: page(403, "Access denied", "Your account can no longer sign in. Ask your administrator.", [], extraHeaders) };
  }
  const token = await appToken(env, team, app, { userId: user.userId, email: directory.email ?? directory.userName, idpId: directory.idpId, groupsVersion: directory.groupsVersion }, opened);
  const target = new URL(`${redirect.protocol}//${app.host}/cdn-cgi/access/authorized`);
  target.searchParams.set("token", token);
  target.searchParams.set("redirect_url", redirect.href);
  const headers = new Headers(extraHeaders);
  headers.set("location", target.href);
  headers.set("cache-control", "no-store");
  headers.set("referrer-policy", "no-referrer");
  return { response: new Response(null, { status: 302, headers }) };
}
