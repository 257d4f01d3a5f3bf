import { chunks } from "../lib/chunks";
import type { DirectoryContext } from "./context";
import { idList, type IdsSql } from "../db/memberships";
import type { GroupRow, MemberRef } from "./group-record";

/** Ids per statement: D1 binds at most 100 parameters; one is the connection. */
const MEMBER_IDS_PER_STATEMENT = 90;

/** One group of this connection, or null (members are never loaded here). */
export async function findGroup(ctx: DirectoryContext, id: string): Promise<GroupRow | null> {
  return ctx.db.prepare("SELECT * FROM groups WHERE id = ? AND idp_id = ?").bind(id, ctx.idp.id).first<GroupRow>();
}

/** A group with all its members, in one round trip. */
export async function findGroupWithMembers(ctx: DirectoryContext, id: string): Promise<{ row: GroupRow; members: MemberRef[] } | null> {
  const [groups, members] = await ctx.db.batch([
    ctx.db.prepare("SELECT * FROM groups WHERE id = ? AND idp_id = ?").bind(id, ctx.idp.id),
    membersStatement(ctx, idList([id])),
  ]);
  const row = (groups?.results[0] as GroupRow | undefined) ?? null;
  return row ? { row, members: (members?.results ?? []) as MemberRef[] } : null;
}

/** Members (`group_id`, `user_id`, `display`) of the groups a subquery or id list names, in a stable order. */
export function membersStatement(ctx: DirectoryContext, groups: IdsSql): D1PreparedStatement {
  return ctx.db
    .prepare(
      // The client's `display` as sent (RFC 7643 §2.4); the user's name when it sent none.
      `SELECT gm.group_id, gm.user_id, coalesce(gm.display, u.display_name, u.user_name) AS display
       FROM group_members gm JOIN users u ON u.id = gm.user_id
       WHERE gm.group_id IN (${groups.sql}) ORDER BY gm.user_id`,
    )
    .bind(...groups.params);
}

/** Members per group from `membersStatement` rows. */
export function membersByGroup(groupIds: string[], rows: unknown[]): Map<string, MemberRef[]> {
  const out = new Map<string, MemberRef[]>(groupIds.map((id) => [id, []]));
  for (const r of rows as (MemberRef & { group_id: string })[]) out.get(r.group_id)?.push({ user_id: r.user_id, display: r.display });
  return out;
}

/** Members of a page of groups, keyed by group id. */
export async function membersOfGroups(ctx: DirectoryContext, groupIds: string[]): Promise<Map<string, MemberRef[]>> {
  if (groupIds.length === 0) return new Map();
  const results = await ctx.db.batch(chunks(groupIds).map((c) => membersStatement(ctx, idList(c))));
  return membersByGroup(groupIds, results.flatMap((r) => r.results));
}

/**
 * Ids among `ids` that are NOT users of this connection. Only read after a group write failed on an
 * unknown member (see MISSING_MEMBER), to name them in the 400 `invalidValue` detail.
 */
export async function missingUsers(ctx: DirectoryContext, ids: string[]): Promise<string[]> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return [];
  const results = await ctx.db.batch(
    chunks(unique, MEMBER_IDS_PER_STATEMENT).map((c) => ctx.db.prepare(`SELECT id FROM users WHERE idp_id = ? AND id IN (${c.map(() => "?").join(",")})`).bind(ctx.idp.id, ...c)),
  );
  const found = new Set(results.flatMap((r) => (r.results as { id: string }[]).map((x) => x.id)));
  return unique.filter((id) => !found.has(id));
}

/** INSERT of a new group row. */
export function insertGroupStatement(ctx: DirectoryContext, id: string, displayName: string, externalId: string | null, resource: string, now: string): D1PreparedStatement {
  return ctx.db
    .prepare(
      `INSERT INTO groups (id, idp_id, external_id, display_name, display_name_lower, resource, version, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)`,
    )
    .bind(id, ctx.idp.id, externalId, displayName, displayName.toLowerCase(), resource, now, now);
}

/** DELETE of a group (`version`: only at that version); its membership rows cascade. Returns the id when deleted. */
export function deleteGroupStatement(ctx: DirectoryContext, id: string, version?: number): D1PreparedStatement {
  return ctx.db
    .prepare(`DELETE FROM groups WHERE id = ? AND idp_id = ?${version !== undefined ? " AND version = ?" : ""} RETURNING id`)
    .bind(id, ctx.idp.id, ...(version !== undefined ? [version] : []));
}

/**
 * The `UPDATE groups` that closes a write: new attributes (`fields`) or, for a members-only write,
 * just the version and `updated_at`. With `version`, it applies only at that version. Returns the
 * new version (no row: the group is gone, or changed since it was read).
 */
export function updateGroupStatement(
  ctx: DirectoryContext,
  id: string,
  fields: { displayName: string; externalId: string | null; resource: string } | undefined,
  now: string,
  version: number | undefined,
): D1PreparedStatement {
  const set = fields ? "display_name = ?, display_name_lower = ?, external_id = ?, resource = ?, " : "";
  const setParams = fields ? [fields.displayName, fields.displayName.toLowerCase(), fields.externalId, fields.resource] : [];
  return ctx.db
    .prepare(`UPDATE groups SET ${set}version = version + 1, updated_at = ? WHERE id = ? AND idp_id = ?${version !== undefined ? " AND version = ?" : ""} RETURNING version`)
    .bind(...setParams, now, id, ctx.idp.id, ...(version !== undefined ? [version] : []));
}

/**
 * The `UPDATE groups` closing a members-only write that read nothing first: bumps the version and
 * returns the whole row after it (the 204's ETag, the provisioning log's fields, or the rendered
 * resource), or no row when the group does not exist in this connection.
 */
export function touchGroupStatement(ctx: DirectoryContext, id: string, now: string): D1PreparedStatement {
  return ctx.db.prepare("UPDATE groups SET version = version + 1, updated_at = ? WHERE id = ? AND idp_id = ? RETURNING *").bind(now, id, ctx.idp.id);
}
