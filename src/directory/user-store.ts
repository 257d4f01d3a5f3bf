import { groupsOfUsersStatement, idList, type UserGroupRef } from "../db/memberships";
import type { DirectoryContext } from "./context";
import type { EmailRow, UserColumns, UserRow } from "./user-record";

/**
 * SQL for the `users` and `user_emails` tables. Writes are returned as statements so a use case
 * can put them in one `db.batch` (one transaction) with everything else it changes.
 */

/** D1 binds at most 100 parameters per statement; 7 per email row keeps inserts well under it. */
const EMAIL_ROWS_PER_STATEMENT = 12;

/** One user of this connection, or null. */
export async function findUser(ctx: DirectoryContext, id: string): Promise<UserRow | null> {
  return ctx.db.prepare("SELECT * FROM users WHERE id = ? AND idp_id = ?").bind(id, ctx.idp.id).first<UserRow>();
}

/** A user and its groups in one round trip. */
export async function findUserWithGroups(ctx: DirectoryContext, id: string): Promise<{ row: UserRow; groups: UserGroupRef[] } | null> {
  const [users, groups] = await ctx.db.batch([
    ctx.db.prepare("SELECT * FROM users WHERE id = ? AND idp_id = ?").bind(id, ctx.idp.id),
    groupsOfUsersStatement(ctx.db, idList([id])),
  ]);
  const row = (users?.results[0] as UserRow | undefined) ?? null;
  return row ? { row, groups: (groups?.results ?? []) as UserGroupRef[] } : null;
}

/** The page column `groupsColumnSql` adds: the user's groups as JSON `[[id, display_name], …]`. */
export const GROUPS_COLUMN = "scim_groups";

/**
 * A correlated column for a page query over `users <alias>`: the user's groups in the order
 * `groupsOfUsersStatement` gives them. SQLite evaluates it only for the rows the page returns when the
 * ORDER BY follows an index (the default and cursor orders), so the page's filter runs once, where a
 * separate statement over the page would have to run the filter again to name the page's users.
 */
export function groupsColumnSql(alias: "u"): string {
  return `(SELECT json_group_array(json_array(ug.id, ug.display_name)) FROM (SELECT g.id, g.display_name FROM group_members gm JOIN groups g ON g.id = gm.group_id
     WHERE gm.user_id = ${alias}.id ORDER BY g.display_name_lower, g.id) ug) AS ${GROUPS_COLUMN}`;
}

/** Groups per user read from the `groupsColumnSql` column of page rows (and removed from them). */
export function groupsFromColumn(rows: Record<string, unknown>[]): Map<string, UserGroupRef[]> {
  const out = new Map<string, UserGroupRef[]>();
  for (const r of rows) {
    const pairs = JSON.parse((r[GROUPS_COLUMN] as string | null) ?? "[]") as [string, string][];
    delete r[GROUPS_COLUMN];
    out.set(r.id as string, pairs.map(([id, display_name]) => ({ id, display_name })));
  }
  return out;
}

/** INSERT of a new user row. */
export function insertUserStatement(ctx: DirectoryContext, id: string, cols: UserColumns, resource: string, now: string): D1PreparedStatement {
  return ctx.db
    .prepare(
      `INSERT INTO users (id, idp_id, external_id, user_name, user_name_lower, display_name, given_name, family_name, email, active, resource, version, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)`,
    )
    .bind(id, ctx.idp.id, cols.externalId, cols.userName, cols.userName.toLowerCase(), cols.displayName, cols.givenName, cols.familyName, cols.email, cols.active ? 1 : 0, resource, now, now);
}

/**
 * Inserts of `user_emails` rows. With `guardVersion`, each insert only runs while the user is still
 * at that version, so a write that loses an optimistic-concurrency race changes nothing.
 */
export function insertEmailStatements(ctx: DirectoryContext, userId: string, emails: EmailRow[], guardVersion?: number): D1PreparedStatement[] {
  const out: D1PreparedStatement[] = [];
  for (let i = 0; i < emails.length; i += EMAIL_ROWS_PER_STATEMENT) {
    const chunk = emails.slice(i, i + EMAIL_ROWS_PER_STATEMENT);
    const values = chunk.map(() => "(?, ?, ?, ?, ?, ?, ?)").join(", ");
    const params = chunk.flatMap((e) => [userId, ctx.idp.id, e.position, e.value, e.valueLower, e.type, e.primary ? 1 : 0]);
    const sql =
      guardVersion === undefined
        ? `INSERT INTO user_emails (user_id, idp_id, position, value, value_lower, type, is_primary) VALUES ${values}`
        : `INSERT INTO user_emails (user_id, idp_id, position, value, value_lower, type, is_primary)
           SELECT * FROM (VALUES ${values}) WHERE EXISTS (SELECT 1 FROM users WHERE id = ? AND version = ?)`;
    out.push(ctx.db.prepare(sql).bind(...params, ...(guardVersion === undefined ? [] : [userId, guardVersion])));
  }
  return out;
}

/** Replaces a user's emails, guarded by the version read (see insertEmailStatements). */
export function replaceEmailStatements(ctx: DirectoryContext, userId: string, emails: EmailRow[], guardVersion: number): D1PreparedStatement[] {
  return [
    ctx.db
      .prepare("DELETE FROM user_emails WHERE user_id = ? AND EXISTS (SELECT 1 FROM users WHERE id = ? AND version = ?)")
      .bind(userId, userId, guardVersion),
    ...insertEmailStatements(ctx, userId, emails, guardVersion),
  ];
}

/**
 * The optimistic-concurrency UPDATE (`WHERE version = ?`, docs/architecture.md). It must come LAST in its
 * batch: the statements before it are guarded by the same version, so either all apply or none.
 */
export function updateUserStatement(ctx: DirectoryContext, id: string, cols: UserColumns, resource: string, now: string, expectedVersion: number): D1PreparedStatement {
  return ctx.db
    .prepare(
      `UPDATE users SET external_id = ?, user_name = ?, user_name_lower = ?, display_name = ?, given_name = ?, family_name = ?,
         email = ?, active = ?, resource = ?, version = version + 1, updated_at = ?
       WHERE id = ? AND idp_id = ? AND version = ?`,
    )
    .bind(cols.externalId, cols.userName, cols.userName.toLowerCase(), cols.displayName, cols.givenName, cols.familyName, cols.email, cols.active ? 1 : 0, resource, now, id, ctx.idp.id, expectedVersion);
}

/** DELETE of a user; its emails and memberships go with it (foreign keys cascade). */
export function deleteUserStatement(ctx: DirectoryContext, id: string): D1PreparedStatement {
  return ctx.db.prepare("DELETE FROM users WHERE id = ? AND idp_id = ?").bind(id, ctx.idp.id);
}

/** Whether two email lists store the same rows (so an update can skip rewriting them). */
export function sameEmails(a: EmailRow[], b: EmailRow[]): boolean {
  return a.length === b.length && a.every((e, i) => {
    const o = b[i]!;
    return e.position === o.position && e.value === o.value && e.type === o.type && e.primary === o.primary;
  });
}
