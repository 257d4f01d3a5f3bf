import { nowIso } from "../db";
import { retryWithJitter, WRITE_RETRY } from "../lib/retry";
import { scimErrors, unwrap } from "../scim/errors";
import { applyPatch, memberOnlyOps, type MemberOp } from "../scim/patch";
import { normalizeResource } from "../scim/resource";
import type { DirectoryContext, ScimObject } from "./context";
import { runBatch } from "./d1-errors";
import { assertIfMatch } from "./etag";
import { renderGroup, storedGroupResource, type GroupRow } from "./group-record";
import { afterGroupWrite, finishGroupWrite, startGroupWrite } from "./group-lifecycle";
import { deleteGroupStatement, findGroup, findGroupWithMembers, insertGroupStatement, membersOfGroups, missingUsers, touchGroupStatement, updateGroupStatement } from "./group-store";
import { MISSING_MEMBER, type GroupWrite } from "./group-writes";

function groupFields(resource: ScimObject) {
  return {
    displayName: String(resource.displayName),
    externalId: typeof resource.externalId === "string" && resource.externalId !== "" ? resource.externalId : null,
    resource: storedGroupResource(resource),
  };
}

/** The group's stored JSON with id and externalId put back (members excluded: never loaded for writes). */
function currentResource(row: GroupRow): ScimObject {
  return { ...(JSON.parse(row.resource) as ScimObject), id: row.id, displayName: row.display_name, ...(row.external_id !== null ? { externalId: row.external_id } : {}) };
}

/** Ids that member operations add (they must be users of this connection). */
function addedIds(ops: MemberOp[]): string[] {
  return ops.flatMap((op) => (op.op === "add" || op.op === "replace" ? op.members.map((m) => m.value) : []));
}

/**
 * Runs a group write's batch. An added id that is not a user of this connection aborts it (see
 * `MISSING_MEMBER`): only then are the ids looked up, for RFC 7644 §3.5.2's `invalidValue` detail.
 */
async function runGroupBatch(ctx: DirectoryContext, statements: D1PreparedStatement[], added: string[]): Promise<D1Result[]> {
  try {
    return await runBatch(ctx.db, statements);
  } catch (e) {
    if (!(e instanceof Error && e.message.includes(MISSING_MEMBER))) throw e;
    const missing = await missingUsers(ctx, added);
    const shown = missing.slice(0, 5).join(", ");
    throw scimErrors.invalidValue(
      missing.length > 0 ? `members: no user with id ${shown}${missing.length > 5 ? ` (and ${missing.length - 5} more)` : ""} in this directory` : "members: a member no longer exists in this directory",
    );
  }
}

/** Queues a list of member operations on a write, in order. */
function applyMemberOps(write: GroupWrite, ops: MemberOp[]): void {
  for (const op of ops) {
    if (op.op === "add") write.add(op.members);
    else if (op.op === "remove") write.remove(op.ids);
    else if (op.op === "removeAll") write.removeAll();
    else write.replace(op.members);
  }
}

/** A group as SCIM renders it; `withMembers` false never touches `group_members`. */
export async function groupResource(ctx: DirectoryContext, row: GroupRow, withMembers: boolean): Promise<ScimObject> {
  if (!withMembers) return renderGroup(row, ctx.scimBase);
  const members = await membersOfGroups(ctx, [row.id]);
  return renderGroup(row, ctx.scimBase, members.get(row.id) ?? []);
}

/** POST /Groups: the group and its initial members in one batch. */
export async function createGroup(ctx: DirectoryContext, body: unknown): Promise<ScimObject> {
  const { resource, members = [] } = unwrap(normalizeResource("Group", body));
  const id = crypto.randomUUID();
  const now = nowIso();
  const fields = groupFields(resource);
  const write = startGroupWrite(ctx, { groupId: id }, now, [insertGroupStatement(ctx, id, fields.displayName, fields.externalId, fields.resource, now)]);
  if (members.length > 0) write.add(members);
  const results = await runGroupBatch(ctx, finishGroupWrite(ctx, write), members.map((m) => m.value));
  await afterGroupWrite(ctx, write, results);
  const created = await findGroupWithMembers(ctx, id);
  const row: GroupRow = { id, idp_id: ctx.idp.id, external_id: fields.externalId, display_name: fields.displayName, display_name_lower: fields.displayName.toLowerCase(), resource: fields.resource, version: 1, created_at: now, updated_at: now };
  return renderGroup(created?.row ?? row, ctx.scimBase, created?.members ?? []);
}

/** GET /Groups/:id; `withMembers` false never touches `group_members` (`excludedAttributes=members`). */
export async function getGroup(ctx: DirectoryContext, id: string, withMembers: boolean): Promise<{ resource: ScimObject; version: number }> {
  if (withMembers) {
    const found = await findGroupWithMembers(ctx, id);
    if (!found) throw scimErrors.notFound(`Group ${id} not found`);
    return { resource: renderGroup(found.row, ctx.scimBase, found.members), version: found.row.version };
  }
  const row = await findGroup(ctx, id);
  if (!row) throw scimErrors.notFound(`Group ${id} not found`);
  return { resource: renderGroup(row, ctx.scimBase), version: row.version };
}

/** PUT /Groups/:id: full replace, including the member list (Okta's group push). Returns the group row after it. */
export async function replaceGroup(ctx: DirectoryContext, id: string, body: unknown, ifMatch: string | undefined): Promise<GroupRow> {
  return updateGroup(ctx, id, ifMatch, (current) => {
    // A PUT without `members` keeps them (as Okta and most providers expect); with it, the list is replaced.
    const { resource, members } = unwrap(normalizeResource("Group", body, current));
    const memberOps: MemberOp[] = members === undefined ? [] : members.length === 0 ? [{ op: "removeAll" }] : [{ op: "replace", members }];
    return { next: resource, memberOps, attributesChanged: true };
  });
}

/**
 * PATCH /Groups/:id: attribute changes and member set operations; one member is O(1) whatever the
 * group's size. A members-only PATCH without `If-Match` (what Entra ID and Okta send for each member
 * change) reads nothing first: see `patchMembers`.
 */
export async function patchGroup(ctx: DirectoryContext, id: string, body: unknown, ifMatch: string | undefined): Promise<GroupRow> {
  const memberOps = ifMatch === undefined ? memberOnlyOps(body) : undefined;
  if (memberOps) return patchMembers(ctx, id, memberOps);
  return updateGroup(ctx, id, ifMatch, (current) => {
    const patched = unwrap(applyPatch("Group", current, body));
    const next = patched.changed ? unwrap(normalizeResource("Group", patched.resource, current)).resource : current;
    return { next, memberOps: patched.memberOps, attributesChanged: patched.changed };
  });
}

/**
 * A members-only PATCH in ONE round trip (after authentication): member operations are set
 * operations that need neither the group's attributes nor its version, and every statement of the
 * write is scoped to the group existing in this connection, so a missing (or another connection's)
 * group writes nothing and its closing `UPDATE … RETURNING *` returns no row (404). An added id that
 * is not a user of this connection aborts the batch as on the read path (400 `invalidValue`).
 */
async function patchMembers(ctx: DirectoryContext, id: string, memberOps: MemberOp[]): Promise<GroupRow> {
  const now = nowIso();
  const write = startGroupWrite(ctx, { groupId: id }, now);
  applyMemberOps(write, memberOps);
  const results = await runGroupBatch(ctx, finishGroupWrite(ctx, write, touchGroupStatement(ctx, id, now)), addedIds(memberOps));
  const row = results[write.groupUpdateAt]?.results[0] as GroupRow | undefined;
  if (!row) throw scimErrors.notFound(`Group ${id} not found`);
  await afterGroupWrite(ctx, write, results);
  return row;
}

/**
 * One group write. Member operations are set operations that commute, so without `If-Match` they
 * are applied with no version guard and never lose a race (Entra ID and Okta send member PATCHes to
 * one group in parallel). An attribute change is a read-modify-write of the stored JSON: it applies
 * only at the version read and is retried internally with a fresh read (WRITE_RETRY). With
 * `If-Match`, the version the client named must still be current: 412 otherwise, nothing written.
 */
async function updateGroup(
  ctx: DirectoryContext,
  id: string,
  ifMatch: string | undefined,
  compute: (current: ScimObject) => { next: ScimObject; memberOps: MemberOp[]; attributesChanged: boolean },
): Promise<GroupRow> {
  const row = await retryWithJitter<GroupRow>(async () => {
    const row = await findGroup(ctx, id);
    if (!row) throw scimErrors.notFound(`Group ${id} not found`);
    assertIfMatch(ifMatch, row.version);
    const { next, memberOps, attributesChanged } = compute(currentResource(row));
    if (!attributesChanged && memberOps.length === 0) return { done: true, value: row };
    const fields = groupFields(next);
    const guard = attributesChanged || ifMatch !== undefined ? row.version : undefined;
    const now = nowIso();
    const write = startGroupWrite(ctx, { groupId: id, ...(guard !== undefined ? { version: guard } : {}) }, now);
    applyMemberOps(write, memberOps);
    // A rename changes every member's group names (policies match SCIM groups by name too).
    if (fields.displayName !== row.display_name) write.recordAllMembers();
    const update = updateGroupStatement(ctx, id, attributesChanged ? fields : undefined, now, guard);
    const results = await runGroupBatch(ctx, finishGroupWrite(ctx, write, update), addedIds(memberOps));
    const updated = results[write.groupUpdateAt]?.results[0] as { version: number } | undefined;
    if (updated) {
      await afterGroupWrite(ctx, write, results);
      const after = attributesChanged ? { display_name: fields.displayName, display_name_lower: fields.displayName.toLowerCase(), external_id: fields.externalId, resource: fields.resource } : {};
      return { done: true, value: { ...row, ...after, version: updated.version, updated_at: now } };
    }
    if (guard === undefined) throw scimErrors.notFound(`Group ${id} not found`);
    if (ifMatch !== undefined) throw scimErrors.preconditionFailed("The group changed while this request was applied");
    return { done: false };
  }, WRITE_RETRY);
  if (!row) throw scimErrors.unavailable("The group is being modified concurrently; retry the request");
  return row;
}

/** DELETE /Groups/:id: the group and its membership rows (cascade); former members are recorded for the fan-out. */
export async function deleteGroup(ctx: DirectoryContext, id: string, ifMatch?: string): Promise<{ displayName: string; externalId: string | null }> {
  const row = await findGroup(ctx, id);
  if (!row) throw scimErrors.notFound(`Group ${id} not found`);
  assertIfMatch(ifMatch, row.version);
  const version = ifMatch !== undefined ? row.version : undefined;
  const write = startGroupWrite(ctx, { groupId: id, ...(version !== undefined ? { version } : {}) }, nowIso());
  write.recordAllMembers();
  const results = await runGroupBatch(ctx, finishGroupWrite(ctx, write, deleteGroupStatement(ctx, id, version)), []);
  if ((results[write.groupUpdateAt]?.results.length ?? 0) === 0) {
    if (version !== undefined) throw scimErrors.preconditionFailed("The group changed while this request was applied");
    throw scimErrors.notFound(`Group ${id} not found`);
  }
  await afterGroupWrite(ctx, write, results);
  return { displayName: row.display_name, externalId: row.external_id };
}
