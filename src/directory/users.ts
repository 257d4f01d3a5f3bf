import { nowIso } from "../db";
import { scimErrors, unwrap } from "../scim/errors";
import { applyPatch } from "../scim/patch";
import { normalizeResource } from "../scim/resource";
import type { DirectoryContext, ScimObject } from "./context";
import { runBatch } from "./d1-errors";
import { assertIfMatch } from "./etag";
import { renderUser, storedResource, userColumns, userRow, type UserRow } from "./user-record";
import {
  deleteUserStatement,
  findUser,
  findUserWithGroups,
  insertEmailStatements,
  insertUserStatement,
  replaceEmailStatements,
  sameEmails,
  updateUserStatement,
} from "./user-store";
import { beforeUserWrite, type UserTransition } from "./user-lifecycle";

/** How often a write retries after losing an optimistic-concurrency race before answering 503. */
const MAX_WRITE_ATTEMPTS = 5;


/** The stored SCIM JSON of a row, with the server-owned attributes put back. */
function currentResource(row: UserRow): ScimObject {
  return { ...(JSON.parse(row.resource) as ScimObject), id: row.id, ...(row.external_id !== null ? { externalId: row.external_id } : {}), active: row.active === 1 };
}

/** POST /Users (RFC 7644 §3.3): validates, writes the user and its emails in one batch. */
export async function createUser(ctx: DirectoryContext, body: unknown): Promise<ScimObject> {
  const { resource } = unwrap(normalizeResource("User", body));
  const cols = userColumns(resource);
  const id = crypto.randomUUID();
  const now = nowIso();
  const json = storedResource(resource);
  await runBatch(ctx.db, [insertUserStatement(ctx, id, cols, json, now), ...insertEmailStatements(ctx, id, cols.emails)]);
  const row = userRow({ id, idp_id: ctx.idp.id, version: 1, created_at: now, updated_at: now }, cols, json);
  return renderUser(row, ctx.scimBase, []);
}

/** GET /Users/:id; `withGroups` false skips the membership query (attributes/excludedAttributes). */
export async function getUser(ctx: DirectoryContext, id: string, withGroups: boolean): Promise<{ resource: ScimObject; version: number }> {
  if (withGroups) {
    const found = await findUserWithGroups(ctx, id);
    if (!found) throw scimErrors.notFound(`User ${id} not found`);
    return { resource: renderUser(found.row, ctx.scimBase, found.groups), version: found.row.version };
  }
  const row = await findUser(ctx, id);
  if (!row) throw scimErrors.notFound(`User ${id} not found`);
  return { resource: renderUser(row, ctx.scimBase), version: row.version };
}

/** PUT /Users/:id (RFC 7644 §3.5.1): full replace; readOnly attributes are kept, immutable ones checked. */
export async function replaceUser(ctx: DirectoryContext, id: string, body: unknown, ifMatch?: string): Promise<ScimObject> {
  return updateUser(ctx, id, ifMatch, (current) => ({ next: unwrap(normalizeResource("User", body, current)).resource, changed: true }));
}

/** PATCH /Users/:id (RFC 7644 §3.5.2): the pure engine computes, a guarded write stores. */
export async function patchUser(ctx: DirectoryContext, id: string, body: unknown, ifMatch?: string): Promise<ScimObject> {
  return updateUser(ctx, id, ifMatch, (current) => {
    const patched = unwrap(applyPatch("User", current, body));
    if (!patched.changed) return { next: current, changed: false };
    return { next: unwrap(normalizeResource("User", patched.resource, current)).resource, changed: true };
  });
}

/**
 * Read → compute (pure) → write guarded by `WHERE version = ?`, retried on conflict
 * (DESIGN.md "D1 has no interactive transactions"), with the session side effects
 * (revocation on deactivation) run between compute and write: fail closed.
 */
async function updateUser(
  ctx: DirectoryContext,
  id: string,
  ifMatch: string | undefined,
  compute: (current: ScimObject) => { next: ScimObject; changed: boolean },
): Promise<ScimObject> {
  for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
    // A user write never changes memberships, so the groups read here render the response too.
    const found = await findUserWithGroups(ctx, id);
    if (!found) throw scimErrors.notFound(`User ${id} not found`);
    const { row, groups } = found;
    assertIfMatch(ifMatch, row.version);
    const current = currentResource(row);
    const { next, changed } = compute(current);
    const before = userColumns(current);
    const cols = userColumns(next);
    const json = storedResource(next);
    if (!changed || (json === row.resource && cols.externalId === row.external_id && cols.active === (row.active === 1))) {
      return renderUser(row, ctx.scimBase, groups);
    }
    const transition: UserTransition = { userId: id, wasActive: before.active, isActive: cols.active, email: cols.email };
    const audit = await beforeUserWrite(ctx, transition);
    const now = nowIso();
    const statements = [
      ...audit,
      ...(sameEmails(before.emails, cols.emails) ? [] : replaceEmailStatements(ctx, id, cols.emails, row.version)),
      updateUserStatement(ctx, id, cols, json, now, row.version),
    ];
    const results = await runBatch(ctx.db, statements);
    if (results[results.length - 1]?.meta.changes === 1) {
      const updated = userRow({ id, idp_id: row.idp_id, version: row.version + 1, created_at: row.created_at, updated_at: now }, cols, json);
      return renderUser(updated, ctx.scimBase, groups);
    }
    // Lost a race with another writer: with If-Match that is a failed precondition, otherwise re-read and retry.
    if (ifMatch !== undefined) throw scimErrors.preconditionFailed("The user changed while this request was applied");
  }
  throw scimErrors.unavailable("The user is being modified concurrently; retry the request");
}

/** DELETE /Users/:id: sessions are revoked first (when the connection deprovisions), then the row goes (Entra deletes; Okta never does). */
export async function deleteUser(ctx: DirectoryContext, id: string, ifMatch?: string): Promise<{ email: string | null; externalId: string | null }> {
  const row = await findUser(ctx, id);
  if (!row) throw scimErrors.notFound(`User ${id} not found`);
  assertIfMatch(ifMatch, row.version);
  const transition: UserTransition = { userId: id, wasActive: row.active === 1, isActive: false, email: row.email, deleted: true };
  const audit = await beforeUserWrite(ctx, transition);
  await runBatch(ctx.db, [...audit, deleteUserStatement(ctx, id)]);
  return { email: row.email, externalId: row.external_id };
}
