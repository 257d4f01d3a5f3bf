import { apiErrors } from "../http/api-error";
import { auditStatement } from "../logs/audit";
import { sessionsFor } from "./client";
import { sessionEffects } from "./effects";
import { groupsOfUsersStatement, idList } from "../db/memberships";
import { dispatchIdentityChange, forEachLimited } from "./fanout";
import type { CreateSessionInput, CreateSessionResult, SessionInfo } from "./types";

/** What opening a session needs: Access sessions may be org-wide; Gateway sessions belong to a device. */
export type OpenSessionInput =
  | { kind: "access"; appId?: string; parentSessionId?: string; ttlSeconds: number }
  | { kind: "gateway"; deviceId: string; ttlSeconds: number };

interface UserFacts {
  id: string;
  idp_id: string;
  email: string | null;
  user_name: string;
  active: number;
  groups_version: number;
}

/** Logins retried after the object refused a groups snapshot older than a change it already saw. */
const STALE_LOGIN_ATTEMPTS = 3;

/**
 * Opens a session for a directory user: an unknown or inactive user is refused. One D1 batch (one
 * transaction, so one snapshot) records the session index row and reads the user, its groups and
 * its `groups_version`: a concurrent group change either commits first (this read has its groups and
 * version) or after (its fan-out sees the index row and notifies the object). The object compares
 * the version with the newest change it has seen and refuses a stale snapshot (`stale_groups`); the
 * login then re-reads.
 */
export async function openSession(env: Env, userId: string, input: OpenSessionInput): Promise<CreateSessionResult | { ok: false; error: "unknown_user" }> {
  const scope = input.kind === "access" ? `access:${input.appId ?? "*"}` : `gateway:${input.deviceId}`;
  let result: CreateSessionResult | undefined;
  for (let attempt = 0; attempt < STALE_LOGIN_ATTEMPTS; attempt++) {
    const [, users, groupRows] = await env.DB.batch([
      env.DB.prepare(
        `INSERT INTO session_index (user_id, scope, last_opened_at) SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM users WHERE id = ? AND active = 1)
         ON CONFLICT (user_id, scope) DO UPDATE SET last_opened_at = excluded.last_opened_at`,
      ).bind(userId, scope, new Date().toISOString(), userId),
      env.DB.prepare("SELECT id, idp_id, email, user_name, active, groups_version FROM users WHERE id = ?").bind(userId),
      groupsOfUsersStatement(env.DB, idList([userId])),
    ]);
    const user = users?.results[0] as UserFacts | undefined;
    if (!user) return { ok: false, error: "unknown_user" };
    if (user.active !== 1) return { ok: false, error: "inactive" };
    const groups = ((groupRows?.results ?? []) as { id: string; display_name: string }[]).map((g) => ({ id: g.id, name: g.display_name }));
    const identity = { idpId: user.idp_id, email: user.email ?? user.user_name, groups, groupsVersion: user.groups_version };
    result = await sessionsFor(env, userId).createSession({ ...input, identity } as CreateSessionInput);
    if (result.ok || result.error !== "stale_groups") return result;
  }
  return result!;
}

/** `POST …/organizations/revoke_user {email}`: every session of that person, in every connection. */
export async function revokeUserByEmail(env: Env, email: string, actor: string): Promise<{ users: number; revokedSessions: number }> {
  const needle = email.trim().toLowerCase();
  const rows = await env.DB.prepare("SELECT id FROM users WHERE email = ? UNION SELECT id FROM users WHERE user_name_lower = ?").bind(needle, needle).all<{ id: string }>();
  let revokedSessions = 0;
  await forEachLimited(rows.results, async ({ id }) => {
    const { revoked } = await sessionEffects.revokeAll(env, id, "admin_revoked", actor);
    revokedSessions += revoked;
  });
  await auditStatement(env.DB, { actor, action: "sessions.revoke_user", targetType: "user", targetId: null, details: { email: needle, users: rows.results.map((r) => r.id), revoked: revokedSessions } }).run();
  return { users: rows.results.length, revokedSessions };
}

async function requireUser(env: Env, userId: string): Promise<void> {
  const found = await env.DB.prepare("SELECT 1 AS ok FROM users WHERE id = ?").bind(userId).first();
  if (!found) throw apiErrors.notFound("User");
}

/** `GET …/users/:id/active_sessions`. */
export async function activeSessions(env: Env, userId: string): Promise<SessionInfo[]> {
  await requireUser(env, userId);
  return sessionsFor(env, userId).listSessions();
}

/** `DELETE …/users/:id/active_sessions/:sessionId`. */
export async function revokeOneSession(env: Env, userId: string, sessionId: string, actor: string): Promise<number> {
  await requireUser(env, userId);
  const { revoked } = await sessionsFor(env, userId).revokeSession(sessionId, "admin_revoked", actor);
  if (revoked === 0) throw apiErrors.notFound("Active session");
  await auditStatement(env.DB, { actor, action: "sessions.revoke_one", targetType: "user", targetId: userId, details: { session_id: sessionId } }).run();
  return revoked;
}

/** `POST …/apps/:appId/revoke_tokens`: every session of one app, for every user who opened one. */
export async function revokeAppTokens(env: Env, appId: string, actor: string): Promise<{ users: number; mode: string }> {
  const rows = await env.DB.prepare("SELECT user_id FROM session_index WHERE scope = ?").bind(`access:${appId}`).all<{ user_id: string }>();
  const userIds = rows.results.map((r) => r.user_id);
  const mode = await dispatchIdentityChange(env, { type: "revoke_app", userIds, appId, actor });
  await auditStatement(env.DB, { actor, action: "sessions.revoke_app", targetType: "access_app", targetId: appId, details: { users: userIds.length, mode } }).run();
  return { users: userIds.length, mode };
}

/**
 * Seats in use (Cloudflare counts a seat per user with access): every provisioned user, except
 * deactivated users of connections with `seat_deprovision` on, who give their seat back.
 */
export async function seatUsage(env: Env) {
  const rows = await env.DB.prepare(
    `SELECT ip.id, ip.name, ip.seat_deprovision,
            count(u.id) AS users,
            sum(CASE WHEN u.active = 1 THEN 1 ELSE 0 END) AS active_users
     FROM identity_providers ip LEFT JOIN users u ON u.idp_id = ip.id
     GROUP BY ip.id ORDER BY ip.created_at, ip.id`,
  ).all<{ id: string; name: string; seat_deprovision: number; users: number; active_users: number | null }>();
  const byIdp = rows.results.map((r) => {
    const seats = r.seat_deprovision === 1 ? (r.active_users ?? 0) : r.users;
    return { identity_provider_id: r.id, name: r.name, users: r.users, active_users: r.active_users ?? 0, seats_in_use: seats, seat_deprovision: r.seat_deprovision === 1 };
  });
  return { seats_in_use: byIdp.reduce((n, r) => n + r.seats_in_use, 0), identity_providers: byIdp };
}
