import { nowIso } from "../db";
import { scimErrors, unwrap } from "../scim/errors";
import { applyPatch, type MemberOp } from "../scim/patch";
import { normalizeResource } from "../scim/resource";
import type { DirectoryContext, ScimObject } from "./context";
import { runBatch } from "./d1-errors";
import { assertIfMatch } from "./etag";
import { renderGroup, storedGroupResource, type GroupRow } from "./group-record";
import { afterMembershipChange, tracksMembership, type MembershipChange } from "./group-lifecycle";
import {
  addMemberStatements,
  deleteGroupStatement,
  findGroup,
  findGroupWithMembers,
  insertGroupStatement,
  memberIds,
  membersOfGroups,
  missingUsers,
  removeAllMembersStatement,
  removeMemberStatements,
  updateGroupStatement,
  type Guard,
} from "./group-store";

const MAX_WRITE_ATTEMPTS = 5;

/** Members must be users of this connection (RFC 7644 §3.5.2: an unknown member is `invalidValue`). */
async function assertMembersExist(ctx: DirectoryContext, ids: string[]): Promise<void> {
  const missing = await missingUsers(ctx, ids);
  if (missing.length > 0) {
    const shown = missing.slice(0, 5).join(", ");
    throw scimErrors.invalidValue(`members: no user with id ${shown}${missing.length > 5 ? ` (and ${missing.length - 5} more)` : ""} in this directory`);
  }
}

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

/** POST /Groups: the group and its initial members in one batch. */
export async function createGroup(ctx: DirectoryContext, body: unknown): Promise<ScimObject> {
  const { resource, members = [] } = unwrap(normalizeResource("Group", body));
  await assertMembersExist(ctx, members);
  const id = crypto.randomUUID();
  const now = nowIso();
  const fields = groupFields(resource);
  await runBatch(ctx.db, [insertGroupStatement(ctx, id, fields.displayName, fields.externalId, fields.resource, now), ...addMemberStatements(ctx, id, members, undefined)]);
  await afterMembershipChange(ctx, { groupId: id, added: [...new Set(members)], removed: [] });
  const row: GroupRow = { id, idp_id: ctx.idp.id, external_id: fields.externalId, display_name: fields.displayName, display_name_lower: fields.displayName.toLowerCase(), resource: fields.resource, version: 1, created_at: now, updated_at: now };
  const created = await findGroupWithMembers(ctx, id);
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

/** PUT /Groups/:id: full replace, including the member list (Okta's group push). */
export async function replaceGroup(ctx: DirectoryContext, id: string, body: unknown, ifMatch: string | undefined, withMembers: boolean): Promise<ScimObject> {
  return updateGroup(ctx, id, ifMatch, withMembers, (current) => {
    // A PUT without `members` keeps them (as Okta and most providers expect); with it, the list is replaced.
    const { resource, members } = unwrap(normalizeResource("Group", body, current));
    return { next: resource, memberOps: members === undefined ? [] : [{ op: "replace", ids: members }], attributesChanged: true };
  });
}

/** PATCH /Groups/:id: attribute changes and member set operations; one member is O(1) whatever the group's size. */
export async function patchGroup(ctx: DirectoryContext, id: string, body: unknown, ifMatch: string | undefined, withMembers: boolean): Promise<ScimObject> {
  return updateGroup(ctx, id, ifMatch, withMembers, (current) => {
    const patched = unwrap(applyPatch("Group", current, body));
    if (!patched.changed && patched.memberOps.length === 0) return { next: current, memberOps: [], attributesChanged: false };
    const next = patched.changed ? unwrap(normalizeResource("Group", patched.resource, current)).resource : current;
    return { next, memberOps: patched.memberOps, attributesChanged: patched.changed };
  });
}

/** Ids that member operations add (they must exist). */
function addedIds(ops: MemberOp[]): string[] {
  return ops.flatMap((op) => (op.op === "add" || op.op === "replace" ? op.ids : []));
}

async function updateGroup(
  ctx: DirectoryContext,
  id: string,
  ifMatch: string | undefined,
  withMembers: boolean,
  compute: (current: ScimObject) => { next: ScimObject; memberOps: MemberOp[]; attributesChanged: boolean },
): Promise<ScimObject> {
  for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
    const row = await findGroup(ctx, id);
    if (!row) throw scimErrors.notFound(`Group ${id} not found`);
    assertIfMatch(ifMatch, row.version);
    const { next, memberOps, attributesChanged } = compute(currentResource(row));
    const fields = groupFields(next);
    if (!attributesChanged && memberOps.length === 0) return render(ctx, row, withMembers);
    await assertMembersExist(ctx, addedIds(memberOps));
    // Member set operations commute, so a members-only PATCH needs no version guard; a change
    // of attributes (or an If-Match) is applied only at the version read.
    const guard: Guard = attributesChanged || ifMatch !== undefined ? { version: row.version } : undefined;
    const wholeGroup = memberOps.some((op) => op.op === "replace" || op.op === "removeAll");
    const before = wholeGroup && tracksMembership(ctx) ? await memberIds(ctx, id) : [];
    const statements: D1PreparedStatement[] = [];
    for (const op of memberOps) {
      switch (op.op) {
        case "add":
          statements.push(...addMemberStatements(ctx, id, op.ids, guard));
          break;
        case "remove":
          statements.push(...removeMemberStatements(ctx, id, op.ids, guard));
          break;
        case "removeAll":
          statements.push(removeAllMembersStatement(ctx, id, guard));
          break;
        case "replace":
          statements.push(removeAllMembersStatement(ctx, id, guard), ...addMemberStatements(ctx, id, op.ids, guard));
          break;
      }
    }
    const now = nowIso();
    statements.push(updateGroupStatement(ctx, id, fields, now, guard));
    const results = await runBatch(ctx.db, statements);
    if (results[results.length - 1]?.meta.changes === 1) {
      const change = membershipChange(id, memberOps, before);
      // A rename changes every member's group names (policies match SCIM groups by name too).
      if (fields.displayName !== row.display_name && tracksMembership(ctx)) change.renamedFor = await memberIds(ctx, id);
      await afterMembershipChange(ctx, change);
      const updated: GroupRow = { ...row, display_name: fields.displayName, display_name_lower: fields.displayName.toLowerCase(), external_id: fields.externalId, resource: fields.resource, version: row.version + 1, updated_at: now };
      return render(ctx, updated, withMembers);
    }
    if (!guard) throw scimErrors.notFound(`Group ${id} not found`);
    if (ifMatch !== undefined) throw scimErrors.preconditionFailed("The group changed while this request was applied");
  }
  throw scimErrors.unavailable("The group is being modified concurrently; retry the request");
}

/** Which users' memberships a list of operations touched (for groups_version bumps and re-authentication). */
function membershipChange(groupId: string, ops: MemberOp[], before: string[]): MembershipChange {
  const members = new Set(before);
  const added = new Set<string>();
  const removed = new Set<string>();
  for (const op of ops) {
    const ids = op.op === "removeAll" ? [...members] : op.ids;
    if (op.op === "replace" || op.op === "removeAll") {
      const keep = new Set(op.op === "replace" ? op.ids : []);
      for (const m of members) if (!keep.has(m)) (removed.add(m), added.delete(m));
      for (const m of keep) if (!members.has(m)) (added.add(m), removed.delete(m));
      members.clear();
      for (const m of keep) members.add(m);
    } else if (op.op === "add") {
      for (const m of ids) if (!members.has(m)) (added.add(m), removed.delete(m), members.add(m));
    } else {
      for (const m of ids) (removed.add(m), added.delete(m), members.delete(m));
    }
  }
  return { groupId, added: [...added], removed: [...removed] };
}

async function render(ctx: DirectoryContext, row: GroupRow, withMembers: boolean): Promise<ScimObject> {
  if (!withMembers) return renderGroup(row, ctx.scimBase);
  const members = await membersOfGroups(ctx, [row.id]);
  return renderGroup(row, ctx.scimBase, members.get(row.id) ?? []);
}

/** DELETE /Groups/:id: the group and its membership rows, in one statement (cascade). */
export async function deleteGroup(ctx: DirectoryContext, id: string, ifMatch?: string): Promise<{ displayName: string; externalId: string | null }> {
  const row = await findGroup(ctx, id);
  if (!row) throw scimErrors.notFound(`Group ${id} not found`);
  assertIfMatch(ifMatch, row.version);
  const before = tracksMembership(ctx) ? await memberIds(ctx, id) : [];
  const results = await runBatch(ctx.db, [deleteGroupStatement(ctx, id)]);
  // `changes` also counts the cascaded membership rows, so only zero means "already gone".
  if ((results[0]?.meta.changes ?? 0) === 0) throw scimErrors.notFound(`Group ${id} not found`);
  await afterMembershipChange(ctx, { groupId: id, added: [], removed: before });
  return { displayName: row.display_name, externalId: row.external_id };
}
