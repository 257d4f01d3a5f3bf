// Reusable Access groups (Cloudflare's `/access/groups`): named rule sets that policies (and other
// groups) reference with `{"group":{"id"}}`. Same validation as policies; a group still referenced
// cannot be deleted, and every write re-checks its guard inside the batch.
import { nowIso } from "../../db";
import { apiErrors } from "../../http/api-error";
import { auditStatement } from "../../logs/audit";
import { parseGroupDefinition, type GroupDefinition } from "../policy/rules";
import { isUniqueViolation } from "../../http/input";
import { FIRST_PAGE, pagedRows, type ListPage, type Paged } from "../../http/pagination";
import { checkReferences, groupsExistGuard, referencedGroupIds } from "./references";
import { groupFromRow, renderGroup, type GroupRow, type StoredGroup } from "./types";

export interface GroupContext {
  db: D1Database;
  actor: string;
}

/** A guarded write sets `name` to NULL when its guard fails: the NOT NULL failure rolls the batch back. */
const GUARD_FAILED = "NOT NULL constraint failed: access_groups.name";

const NAMES_GROUP = `EXISTS (SELECT 1 FROM json_tree(json_array(json(x.include), json(x.exclude), json(x.require))) t
  WHERE t.key = 'group' AND t.type = 'object' AND json_extract(t.value, '$.id') = ?)`;

/** Policies and other groups whose rules name group `id`. */
const REFERRERS_SQL = `
SELECT 'policy' AS kind, x.id, x.name, x.app_id FROM access_policies x WHERE ${NAMES_GROUP}
UNION ALL
SELECT 'group' AS kind, x.id, x.name, NULL FROM access_groups x WHERE x.id != ? AND ${NAMES_GROUP}`;

function parse(body: unknown, current?: StoredGroup): GroupDefinition & { name: string } {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw apiErrors.invalid("(body): must be a JSON object");
  const base = current ? { name: current.name, include: current.include, exclude: current.exclude, require: current.require } : {};
  const parsed = parseGroupDefinition({ ...base, ...(body as object) });
  if (!parsed.ok) throw apiErrors.invalid(parsed.error);
  if (parsed.value.name === undefined) throw apiErrors.invalid("name: required");
  if (parsed.value.name.length > 200) throw apiErrors.invalid("name: at most 200 characters");
  return { ...parsed.value, name: parsed.value.name };
}

async function validate(db: D1Database, def: GroupDefinition, selfId?: string) {
  const problems = await checkReferences(db, def, selfId);
  if (problems.length > 0) throw apiErrors.invalid(problems.join("; "));
}

async function write(ctx: GroupContext, def: GroupDefinition & { name: string }, selfId: string | undefined, statements: D1PreparedStatement[]) {
  try {
    return await ctx.db.batch(statements);
  } catch (error) {
    if (isUniqueViolation(error, "access_groups.name")) throw apiErrors.conflict(`name: a reusable group named "${def.name}" already exists`);
    if (error instanceof Error && `${error.message} ${String(error.cause ?? "")}`.includes(GUARD_FAILED)) {
      await validate(ctx.db, def, selfId);
      throw apiErrors.conflict("A reusable group this group names changed while it was saved; retry");
    }
    throw error;
  }
}

/** `CASE WHEN <every named group exists> THEN ? END` for the `name` column. */
function guardedName(def: GroupDefinition & { name: string }) {
  const guard = groupsExistGuard(referencedGroupIds(def));
  return { sql: `CASE WHEN ${guard.sql} THEN ? END`, params: [...guard.params, def.name] };
}

/** Creates a reusable group. */
export async function createGroup(ctx: GroupContext, body: unknown): Promise<StoredGroup> {
  const def = parse(body);
  await validate(ctx.db, def);
  const id = crypto.randomUUID();
  const now = nowIso();
  const name = guardedName(def);
  await write(ctx, def, undefined, [
    ctx.db
      .prepare(`INSERT INTO access_groups (id, name, include, exclude, require, created_at, updated_at) SELECT ?, ${name.sql}, ?, ?, ?, ?, ?`)
      .bind(id, ...name.params, JSON.stringify(def.include), JSON.stringify(def.exclude), JSON.stringify(def.require), now, now),
    auditStatement(ctx.db, { actor: ctx.actor, action: "access_group.create", targetType: "access_group", targetId: id, details: { name: def.name } }),
  ]);
  return { ...def, id, createdAt: now, updatedAt: now };
}

/** One page of the reusable groups, by name. */
export async function listGroups(db: D1Database, page: ListPage = FIRST_PAGE): Promise<Paged<StoredGroup>> {
  const { rows, info } = await pagedRows<GroupRow>(db, "SELECT * FROM access_groups ORDER BY name, id", "SELECT count(*) AS n FROM access_groups", [], page);
  return { result: rows.map(groupFromRow), result_info: info };
}

/** One reusable group or a 404. */
export async function getGroup(db: D1Database, id: string): Promise<StoredGroup> {
  const row = await db.prepare("SELECT * FROM access_groups WHERE id = ?").bind(id).first<GroupRow>();
  if (!row) throw apiErrors.notFound("Access group");
  return groupFromRow(row);
}

/** Updates a reusable group; fields left out keep their values. A group may not name itself, even through others. */
export async function updateGroup(ctx: GroupContext, id: string, body: unknown): Promise<StoredGroup> {
  const current = await getGroup(ctx.db, id);
  const def = parse(body, current);
  await validate(ctx.db, def, id);
  const now = nowIso();
  const name = guardedName(def);
  const [updated] = await write(ctx, def, id, [
    ctx.db
      .prepare(`UPDATE access_groups SET name = ${name.sql}, include = ?, exclude = ?, require = ?, updated_at = ? WHERE id = ?`)
      .bind(...name.params, JSON.stringify(def.include), JSON.stringify(def.exclude), JSON.stringify(def.require), now, id),
    auditStatement(ctx.db, { actor: ctx.actor, action: "access_group.update", targetType: "access_group", targetId: id, details: { fields: Object.keys(body as object) } }),
  ]);
  if ((updated?.meta.changes ?? 0) === 0) throw apiErrors.notFound("Access group");
  return { ...def, id, createdAt: current.createdAt, updatedAt: now };
}

interface Referrer {
  kind: "policy" | "group";
  id: string;
  name: string;
  app_id: string | null;
}

/** The 400 naming who still references a group. */
function stillReferenced(group: StoredGroup, referrers: Referrer[]) {
  const list = referrers
    .slice(0, 20)
    .map((r) => (r.kind === "policy" ? `policy "${r.name}" (${r.id}) of app ${r.app_id}` : `group "${r.name}" (${r.id})`))
    .join(", ");
  const more = referrers.length > 20 ? ` and ${referrers.length - 20} more` : "";
  return apiErrors.invalid(`Access group "${group.name}" is still referenced by ${list}${more}; remove those rules first`);
}

/**
 * Deletes a reusable group unless a policy or another group still names it (it would then match
 * nobody: in an `exclude`, that silently lets everyone through). The check runs again inside the
 * delete's batch: a referenced group makes its first statement fail, rolling the batch back.
 */
export async function deleteGroup(ctx: GroupContext, id: string): Promise<void> {
  const current = await getGroup(ctx.db, id);
  const refs = await ctx.db.prepare(REFERRERS_SQL).bind(id, id, id).all<Referrer>();
  if (refs.results.length > 0) throw stillReferenced(current, refs.results);
  try {
    await ctx.db.batch([
      ctx.db.prepare(`UPDATE access_groups SET name = NULL WHERE id = ? AND EXISTS (${REFERRERS_SQL})`).bind(id, id, id, id),
      ctx.db.prepare("DELETE FROM access_groups WHERE id = ?").bind(id),
      auditStatement(ctx.db, { actor: ctx.actor, action: "access_group.delete", targetType: "access_group", targetId: id, details: { name: current.name } }),
    ]);
  } catch (error) {
    if (error instanceof Error && `${error.message} ${String(error.cause ?? "")}`.includes(GUARD_FAILED)) {
      throw stillReferenced(current, (await ctx.db.prepare(REFERRERS_SQL).bind(id, id, id).all<Referrer>()).results);
    }
    throw error;
  }
}

export { renderGroup };
