// Directory reads for the admin dashboard and its /api/v1 twins: users searched across every
// connection, one user's detail (groups, live sessions, seat), group members, and a connection's
// last sync. Everything is paged and answered from indexes: the directory may hold 100k users.
import { z } from "zod";
import { apiErrors } from "../http/api-error";
import { resultInfo } from "../http/pagination";
import { auditStatement } from "../logs/audit";
import { sessionEffects } from "../sessions/effects";
import { activeSessions } from "../sessions/service";
import { prefixRange } from "./directory-views";

/** Deepest row a search may page to (offset + per_page): each branch reads at most this many index entries. */
export const MAX_SEARCH_DEPTH = 10_000;

export const userSearchSchema = z.object({
  search: z.string().trim().max(256).optional(),
  idp_id: z.string().max(64).optional(),
  status: z.enum(["active", "inactive", "all"]).default("all"),
  page: z.coerce.number().int().min(1).default(1),
  per_page: z.coerce.number().int().min(1).max(200).default(50),
});
export type UserSearch = z.infer<typeof userSearchSchema>;

export const pageQuerySchema = z.object({
  search: z.string().trim().max(256).optional(),
  page: z.coerce.number().int().min(1).default(1),
  per_page: z.coerce.number().int().min(1).max(200).default(50),
});

/** Parses a query string with `schema` (400 on the first bad field). */
export function parseQuery<T>(schema: z.ZodType<T>, url: URL): T {
  const raw = Object.fromEntries([...url.searchParams].filter(([, v]) => v !== ""));
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw apiErrors.invalid(`${parsed.error.issues[0]?.path.join(".") || "query"}: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

/** Parses `search`, `page`, `per_page`. */
export const parsePageQuery = (url: URL) => parseQuery(pageQuerySchema, url);

/** `[lo, hi)` bounds of every string starting with a non-empty `prefix`, for an index range scan. */
function bounds(prefix: string): [string, string] {
  const r = prefixRange(prefix)!;
  // No successor only for a prefix of U+10FFFF code points: no real name sorts above that.
  return [r.lower, r.upper ?? `${prefix}\u{10ffff}`];
}


export interface UserListItem {
  id: string;
  idp_id: string;
  idp_name: string;
  user_name: string;
  display_name: string | null;
  email: string | null;
  is_active: boolean;
  updated_at: string;
}

const USER_COLS = "u.id, u.idp_id, ip.name AS idp_name, u.user_name, u.display_name, u.email, u.active, u.updated_at";
const toItem = (r: Record<string, unknown>): UserListItem => ({
  id: r.id as string,
  idp_id: r.idp_id as string,
  idp_name: r.idp_name as string,
  user_name: r.user_name as string,
  display_name: (r.display_name as string | null) ?? null,
  email: (r.email as string | null) ?? null,
  is_active: r.active === 1,
  updated_at: r.updated_at as string,
});

/**
 * Users across every connection (or one), optionally by prefix of email, userName or display name.
 * Each of the three is its own index range (`users_email`, `users_user_name_lower`, and
 * `users_idp_display_name` probed per connection), read in key order and cut at offset + per_page;
 * a user's sort key is the smallest key it matched, so the global top N is within the union of
 * each branch's top N. Display names are stored as sent (no lower-cased column), so the probe tries
 * the needle as typed, lower-cased and capitalised.
 */
export async function searchUsers(db: D1Database, q: UserSearch) {
  const offset = (q.page - 1) * q.per_page;
  if (offset + q.per_page > MAX_SEARCH_DEPTH) throw apiErrors.invalid(`page: at most ${MAX_SEARCH_DEPTH} rows deep; narrow the search`);
  const filters: string[] = [];
  const fparams: string[] = [];
  if (q.idp_id) (filters.push("u.idp_id = ?"), fparams.push(q.idp_id));
  if (q.status !== "all") filters.push(`u.active = ${q.status === "active" ? 1 : 0}`);
  const extra = filters.map((f) => ` AND ${f}`).join("");
  const from = "FROM users u JOIN identity_providers ip ON ip.id = u.idp_id";
  const needle = q.search ?? "";
  if (!needle) {
    // No search: userName order through `users_user_name_lower`; the total is the sum of the trigger-kept counts when unfiltered.
    const [rows, count] = await db.batch([
      db.prepare(`SELECT ${USER_COLS} ${from} WHERE 1${extra} ORDER BY u.user_name_lower, u.id LIMIT ? OFFSET ?`).bind(...fparams, q.per_page, offset),
      q.status === "all"
        ? db.prepare(`SELECT coalesce(sum(users), 0) AS n FROM directory_counts${q.idp_id ? " WHERE idp_id = ?" : ""}`).bind(...fparams)
        : db.prepare(`SELECT count(*) AS n ${from} WHERE 1${extra}`).bind(...fparams),
    ]);
    const result = (rows!.results as Record<string, unknown>[]).map(toItem);
    return { result, result_info: resultInfo(q, result.length, (count!.results[0] as { n: number }).n) };
  }
  const lower = needle.toLowerCase();
  const variants = [...new Set([needle, lower, lower.charAt(0).toUpperCase() + lower.slice(1)])];
  const depth = offset + q.per_page;
  const branches: { sql: string; params: (string | number)[] }[] = [
    { sql: `SELECT u.id, u.email AS k FROM users u WHERE u.email >= ? AND u.email < ?${extra} ORDER BY u.email, u.id LIMIT ?`, params: [...bounds(lower), ...fparams, depth] },
    { sql: `SELECT u.id, u.user_name_lower AS k FROM users u WHERE u.user_name_lower >= ? AND u.user_name_lower < ?${extra} ORDER BY u.user_name_lower, u.id LIMIT ?`, params: [...bounds(lower), ...fparams, depth] },
    ...variants.map((v) => ({
      // `idp_id IN (…)` lets SQLite probe (idp_id, display_name) once per connection.
      sql: `SELECT u.id, lower(u.display_name) AS k FROM users u WHERE u.idp_id IN (SELECT id FROM identity_providers) AND u.display_name >= ? AND u.display_name < ?${extra} ORDER BY lower(u.display_name), u.id LIMIT ?`,
      params: [...bounds(v), ...fparams, depth],
    })),
  ];
  const countSql = branches.map((b) => b.sql.replace(/^SELECT u\.id, [^ ]+ AS k/, "SELECT u.id").replace(/ ORDER BY .*$/, "")).join(" UNION ");
  const countParams = branches.flatMap((b) => b.params.slice(0, -1));
  const results = await db.batch([
    ...branches.map((b) => db.prepare(b.sql).bind(...b.params)),
    db.prepare(`SELECT count(*) AS n FROM (SELECT id FROM (${countSql}) LIMIT ${MAX_SEARCH_DEPTH + 1})`).bind(...countParams),
  ]);
  const best = new Map<string, string>();
  for (const r of results.slice(0, -1).flatMap((x) => x.results as { id: string; k: string }[])) {
    const prev = best.get(r.id);
    if (prev === undefined || r.k < prev) best.set(r.id, r.k);
  }
  const ids = [...best].sort(([ia, ka], [ib, kb]) => (ka < kb ? -1 : ka > kb ? 1 : ia < ib ? -1 : ia > ib ? 1 : 0)).slice(offset, depth).map(([id]) => id);
  const total = Math.min((results.at(-1)!.results[0] as { n: number }).n, MAX_SEARCH_DEPTH);
  if (!ids.length) return { result: [], result_info: resultInfo(q, 0, total) };
  const rows = await db.prepare(`SELECT ${USER_COLS} ${from} WHERE u.id IN (${ids.map(() => "?").join(",")})`).bind(...ids).all<Record<string, unknown>>();
  const byId = new Map(rows.results.map((r) => [r.id as string, toItem(r)]));
  const result = ids.map((id) => byId.get(id)).filter((u): u is UserListItem => !!u);
  return { result, result_info: resultInfo(q, result.length, total) };
}

/**
 * One user for the admin: its connection, groups, live sessions (app and device names resolved),
 * and whether it holds a seat (Cloudflare: every provisioned user does, except deactivated users of
 * a connection with `seat_deprovision`, who give theirs back; the same rule as `seatUsage`).
 */
export async function userDetail(env: Env, userId: string) {
  const [users, groups] = await env.DB.batch([
    env.DB.prepare(
      `SELECT u.id, u.idp_id, ip.name AS idp_name, ip.seat_deprovision, u.external_id, u.user_name, u.display_name, u.email, u.active, u.created_at, u.updated_at
       FROM users u JOIN identity_providers ip ON ip.id = u.idp_id WHERE u.id = ?`,
    ).bind(userId),
    env.DB.prepare("SELECT g.id, g.display_name FROM group_members gm JOIN groups g ON g.id = gm.group_id WHERE gm.user_id = ? ORDER BY g.display_name_lower, g.id LIMIT 501").bind(userId),
  ]);
  const u = users!.results[0] as Record<string, unknown> | undefined;
  if (!u) throw apiErrors.notFound("User");
  const sessions = await activeSessions(env, userId);
  const appIds = [...new Set(sessions.map((s) => s.appId).filter((x): x is string => !!x))];
  const deviceIds = [...new Set(sessions.map((s) => s.deviceId).filter((x): x is string => !!x))];
  const names = async (table: string, ids: string[]) =>
    ids.length ? new Map((await env.DB.prepare(`SELECT id, name FROM ${table} WHERE id IN (${ids.map(() => "?").join(",")})`).bind(...ids).all<{ id: string; name: string }>()).results.map((r) => [r.id, r.name])) : new Map<string, string>();
  const [apps, devices] = await Promise.all([names("access_apps", appIds.slice(0, 90)), names("gateway_devices", deviceIds.slice(0, 90))]);
  const groupRows = groups!.results as { id: string; display_name: string }[];
  const active = u.active === 1;
  return {
    id: u.id as string,
    idp_id: u.idp_id as string,
    idp_name: u.idp_name as string,
    idp_resource_id: (u.external_id as string | null) ?? null,
    user_name: u.user_name as string,
    display_name: (u.display_name as string | null) ?? null,
    email: (u.email as string | null) ?? null,
    is_active: active,
    created_at: u.created_at as string,
    updated_at: u.updated_at as string,
    groups: groupRows.slice(0, 500),
    groups_truncated: groupRows.length > 500,
    seat: { in_use: active || u.seat_deprovision !== 1, seat_deprovision: u.seat_deprovision === 1 },
    active_sessions: sessions.map((s) => ({
      id: s.id,
      kind: s.kind,
      app_id: s.appId,
      app_name: s.appId ? (apps.get(s.appId) ?? null) : null,
      device_id: s.deviceId,
      device_name: s.deviceId ? (devices.get(s.deviceId) ?? null) : null,
      created_at: new Date(s.createdAt).toISOString(),
      expires_at: new Date(s.expiresAt).toISOString(),
      last_seen_at: new Date(s.lastSeenAt).toISOString(),
    })),
  };
}

/** Revokes every live session of one user (the dashboard's "Revoke all sessions" and `POST …/users/:id/revoke_sessions`). */
export async function revokeUserSessions(env: Env, userId: string, actor: string): Promise<{ revokedSessions: number }> {
  const found = await env.DB.prepare("SELECT 1 AS ok FROM users WHERE id = ?").bind(userId).first();
  if (!found) throw apiErrors.notFound("User");
  const { revoked } = await sessionEffects.revokeAll(env, userId, "admin_revoked", actor);
  await auditStatement(env.DB, { actor, action: "sessions.revoke_user", targetType: "user", targetId: userId, details: { revoked } }).run();
  return { revokedSessions: revoked };
}

/** A group of a connection, or a 404 (tenant isolation: the group must belong to `idpId`). */
export async function getGroup(db: D1Database, idpId: string, groupId: string) {
  const g = await db.prepare("SELECT id, display_name, external_id FROM groups WHERE id = ? AND idp_id = ?").bind(groupId, idpId).first<{ id: string; display_name: string; external_id: string | null }>();
  if (!g) throw apiErrors.notFound("Group");
  return g;
}

/** Members of one group, paged in userName order (primary key range on group_members, then users by id). */
export async function listGroupMembers(db: D1Database, idpId: string, groupId: string, q: { page: number; per_page: number }) {
  await getGroup(db, idpId, groupId);
  const [rows, count] = await db.batch([
    db
      .prepare(
        `SELECT u.id, u.user_name, u.display_name, u.email, u.active FROM group_members gm JOIN users u ON u.id = gm.user_id
         WHERE gm.group_id = ? ORDER BY u.user_name_lower, u.id LIMIT ? OFFSET ?`,
      )
      .bind(groupId, q.per_page, (q.page - 1) * q.per_page),
    db.prepare("SELECT count(*) AS n FROM group_members WHERE group_id = ?").bind(groupId),
  ]);
  const result = (rows!.results as Record<string, unknown>[]).map((r) => ({ id: r.id as string, user_name: r.user_name as string, display_name: r.display_name as string | null, email: r.email as string | null, is_active: r.active === 1 }));
  return { result, result_info: resultInfo(q, result.length, (count!.results[0] as { n: number }).n) };
}

/** Member counts of some groups (one indexed count per group over the group_members primary key). */
export async function memberCounts(db: D1Database, groupIds: string[]): Promise<Map<string, number>> {
  if (!groupIds.length) return new Map();
  const rows = await db.prepare(`SELECT group_id, count(*) AS n FROM group_members WHERE group_id IN (${groupIds.map(() => "?").join(",")}) GROUP BY group_id`).bind(...groupIds).all<{ group_id: string; n: number }>();
  return new Map(rows.results.map((r) => [r.group_id, r.n]));
}

/** A connection's last SCIM request and its failed requests (HTTP status ≥ 400) over the last 24 hours. */
export async function scimSyncStatus(db: D1Database, idpId: string, now = Date.now()) {
  const since = new Date(now - 86_400_000).toISOString();
  const [last, errors] = await db.batch([
    db.prepare("SELECT logged_at FROM provisioning_log WHERE idp_id = ? ORDER BY logged_at DESC LIMIT 1").bind(idpId),
    db.prepare("SELECT count(*) AS n FROM provisioning_log WHERE idp_id = ? AND logged_at >= ? AND http_status >= 400").bind(idpId, since),
  ]);
  return { last_sync_at: ((last!.results[0] as { logged_at: string } | undefined)?.logged_at ?? null) as string | null, errors_24h: (errors!.results[0] as { n: number }).n };
}
