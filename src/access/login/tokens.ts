// Minting the two Access tokens from sessions the user's Durable Object opened (Cloudflare's flow):
// the org token (`type: "org"`) lives on the team host and lets one IdP login serve every app; an
// app token (`type: "app"`, `aud` = the app's tag) lives on the app's host and is what the origin
// receives in `Cf-Access-Jwt-Assertion`. Both carry the session id (`sid`): the object is asked about
// it on every request, so the token is never the last word on whether a session is alive.
import type { AccessApp } from "../apps/types";
import { signAccessToken } from "../tokens/jwt";

/** The user a token is minted for, as the directory knows them. */
export interface TokenSubject {
  userId: string;
  email: string;
  idpId: string;
  groupsVersion: number;
}

/** A session the object opened. */
export interface OpenedSession {
  sessionId: string;
  expiresAt: number;
}

/** The audience of org tokens: the team origin itself (an app's tag is 64 hex characters, so they cannot collide). */
export const orgAudience = (team: string) => team;

/** The team host's org token (`CF_Authorization` on the team host). */
export function orgToken(env: Env, team: string, subject: TokenSubject, session: OpenedSession): Promise<string> {
  return mint(env, team, orgAudience(team), "org", subject, session);
}

/** An app token for `app` (`CF_Authorization` on the app host, and the origin's assertion). */
export function appToken(env: Env, team: string, app: AccessApp, subject: TokenSubject, session: OpenedSession): Promise<string> {
  return mint(env, team, app.aud, "app", subject, session);
}

function mint(env: Env, team: string, aud: string, type: "app" | "org", subject: TokenSubject, session: OpenedSession): Promise<string> {
  return signAccessToken(
    env,
    {
      aud: [aud],
      email: subject.email,
      sub: subject.userId,
      exp: Math.floor(session.expiresAt / 1000),
      type,
      identity_nonce: crypto.randomUUID(),
      sid: session.sessionId,
      groups_version: subject.groupsVersion,
      idp_id: subject.idpId,
    },
    team,
  );
}
