import { chunks } from "../lib/chunks";
import type { DirectoryContext } from "./context";
import type { PageIds } from "./list";
import { idList } from "./user-store";
import type { GroupRow, MemberRef } from "./group-record";

/** Member ids per statement: D1 binds at most 100 parameters; a few are the group and its guard. */
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
export function membersStatement(ctx: DirectoryContext, groups: PageIds): D1PreparedStatement {
  return ctx.db
    .prepare(
      `SELECT gm.group_id, gm.user_id, coalesce(u.display_name, u.user_name) AS display
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

/** Ids among `ids` that are NOT users of this connection (members must exist: 400 invalidValue otherwise). */
export async function missingUsers(ctx: DirectoryContext, ids: string[]): Promise<string[]> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return [];
  const found = new Set<string>();
  const results = await ctx.db.batch(
    chunks(unique, MEMBER_IDS_PER_STATEMENT).map((c) => ctx.db.prepare(`SELECT id FROM users WHERE idp_id = ? AND id IN (${c.map(() => "?").join(",")})`).bind(ctx.idp.id, ...c)),
  );
  for (const r of results) for (const row of r.results as { id: string }[]) found.add(row.id);
  return unique.filter((id) => !found.has(id));
}

/** All member ids of a group (only for whole-group operations: replace, remove all, delete). */
export async function memberIds(ctx: DirectoryContext, groupId: string): Promise<string[]> {
  const r = await ctx.db.prepare("SELECT user_id FROM group_members WHERE group_id = ?").bind(groupId).all<{ user_id: string }>();
  return r.results.map((x) => x.user_id);
}

/** A version guard: the statement applies only while the group is still at the version read. */
export type Guard = { version: number } | undefined;

function guardSql(guard: Guard): string {
  return guard ? " AND EXISTS (SELECT 1 FROM groups WHERE id = ? AND version = ?)" : "";
}

function guardParams(groupId: string, guard: Guard): (string | number)[] {
  return guard ? [groupId, guard.version] : [];
}

/** Set-add of members: one indexed row write per member, whatever the group's size. */
export function addMemberStatements(ctx: DirectoryContext, groupId: string, ids: string[], guard: Guard): D1PreparedStatement[] {
  return chunks([...new Set(ids)], MEMBER_IDS_PER_STATEMENT).map((c) =>
    ctx.db
      .prepare(
        `INSERT INTO group_members (group_id, user_id) SELECT ?, column1 FROM (VALUES ${c.map(() => "(?)").join(",")})
         WHERE 1${guardSql(guard)} ON CONFLICT DO NOTHING`,
      )
      .bind(groupId, ...c, ...guardParams(groupId, guard)),
  );
}

/** Set-remove of members. */
export function removeMemberStatements(ctx: DirectoryContext, groupId: string, ids: string[], guard: Guard): D1PreparedStatement[] {
  return chunks([...new Set(ids)], MEMBER_IDS_PER_STATEMENT).map((c) =>
    ctx.db
      .prepare(`DELETE FROM group_members WHERE group_id = ? AND user_id IN (${c.map(() => "?").join(",")})${guardSql(guard)}`)
      .bind(groupId, ...c, ...guardParams(groupId, guard)),
  );
}

/** Removes every member of a group. */
export function removeAllMembersStatement(ctx: DirectoryContext, groupId: string, guard: Guard): D1PreparedStatement {
  return ctx.db.prepare(`DELETE FROM group_members WHERE group_id = ?${guardSql(guard)}`).bind(groupId, ...guardParams(groupId, guard));
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

/**
 * The group row UPDATE that closes a write batch: bumps the version, and with a guard applies only
 * at the version read (it must come LAST, after the guarded member statements).
 */
export function updateGroupStatement(
  ctx: DirectoryContext,
  id: string,
  fields: { displayName: string; externalId: string | null; resource: string },
  now: string,
  guard: Guard,
): D1PreparedStatement {
  return ctx.db
    .prepare(
      `UPDATE groups SET display_name = ?, display_name_lower = ?, external_id = ?, resource = ?, version = version + 1, updated_at = ?
       WHERE id = ? AND idp_id = ?${guard ? " AND version = ?" : ""}`,
    )
    .bind(fields.displayName, fields.displayName.toLowerCase(), fields.externalId, fields.resource, now, id, ctx.idp.id, ...(guard ? [guard.version] : []));
}

/** DELETE of a group; its membership rows cascade. */
export function deleteGroupStatement(ctx: DirectoryContext, id: string): D1PreparedStatement {
  return ctx.db.prepare("DELETE FROM groups WHERE id = ? AND idp_id = ?").bind(id, ctx.idp.id);
}
