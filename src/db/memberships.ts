import { chunks } from "../lib/chunks";

/**
 * Reads of SCIM group membership that both the directory (rendering a user's `groups`) and the
 * session fan-out (the group snapshot a user's Durable Object receives) need. They live here, under
 * the D1 layer, so neither `directory/` nor `sessions/` has to import the other to share them.
 */

/** Ids as SQL: an explicit `?` list or a subquery (a list page), with its bound parameters. */
export type IdsSql = { sql: string; params: (string | number | null)[] };

/** A user's group, as listed in its read-only `groups` attribute (RFC 7643 §4.1.2). */
export interface UserGroupRef {
  id: string;
  display_name: string;
}

/** An explicit id list in the shape of a subquery. */
export function idList(ids: string[]): IdsSql {
  return { sql: ids.map(() => "?").join(","), params: ids };
}

/** Statement listing the groups (`user_id`, `id`, `display_name`) of the users a subquery or id list names. */
export function groupsOfUsersStatement(db: D1Database, users: IdsSql): D1PreparedStatement {
  return db
    .prepare(
      `SELECT gm.user_id, g.id, g.display_name FROM group_members gm JOIN groups g ON g.id = gm.group_id
       WHERE gm.user_id IN (${users.sql}) ORDER BY g.display_name_lower, g.id`,
    )
    .bind(...users.params);
}

/** Groups per user from `groupsOfUsersStatement` rows. */
export function groupsByUser(userIds: string[], rows: unknown[]): Map<string, UserGroupRef[]> {
  const out = new Map<string, UserGroupRef[]>(userIds.map((id) => [id, []]));
  for (const r of rows as (UserGroupRef & { user_id: string })[]) out.get(r.user_id)?.push({ id: r.id, display_name: r.display_name });
  return out;
}

/** The groups of some users, keyed by user id (chunked to D1's parameter limit). */
export async function groupsOfUsers(db: D1Database, userIds: string[]): Promise<Map<string, UserGroupRef[]>> {
  if (userIds.length === 0) return new Map();
  const results = await db.batch(chunks(userIds).map((c) => groupsOfUsersStatement(db, idList(c))));
  return groupsByUser(userIds, results.flatMap((r) => r.results));
}
