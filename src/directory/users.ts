import { nowIso } from "../db";
import { retryWithJitter, WRITE_RETRY } from "../lib/retry";
import { ScimError, scimErrors, unwrap } from "../scim/errors";
import { applyPatch, normalizeOperations } from "../scim/patch";
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
import { afterFailedWrite, beforeUserWrite, touchesGate, type GateTouch, type UserTransition } from "./user-lifecycle";

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
  // PUT states the whole resource, `active` included: an active result reopens the gate (RFC 7644 §3.5.1).
  return updateUser(ctx, id, ifMatch, (current) => ({ next: unwrap(normalizeResource("User", body, current)).resource, changed: true, assertsActive: true }));
}

/** PATCH /Users/:id (RFC 7644 §3.5.2): the pure engine computes, a guarded write stores. */
export async function patchUser(ctx: DirectoryContext, id: string, body: unknown, ifMatch?: string): Promise<ScimObject> {
  return updateUser(ctx, id, ifMatch, (current) => {
    const patched = unwrap(applyPatch("User", current, body));
    const assertsActive = patchNamesActive(body);
    if (!patched.changed) return { next: current, changed: false, assertsActive };
    return { next: unwrap(normalizeResource("User", patched.resource, current)).resource, changed: true, assertsActive };
  });
}

/**
 * Whether a PATCH body sets `active`, read through the same dialect normalisation as the engine
 * (Entra's capitalised ops and keys, path-less values expanded per attribute, the attribute named
 * bare or with the core schema URN).
 */
function patchNamesActive(body: unknown): boolean {
  const ops = normalizeOperations("User", body);
  return ops.ok && ops.value.some((op) => op.op !== "remove" && ACTIVE_PATH.test(op.path));
}

const ACTIVE_PATH = /^(urn:ietf:params:scim:schemas:core:2\.0:user:)?active$/i;

type Computed = { next: ScimObject; changed: boolean; assertsActive?: boolean };

/** Whether another user of this connection already holds `userName` (RFC 7643 §4.1.1: caseExact=false). */
async function userNameTaken(ctx: DirectoryContext, id: string, userName: string): Promise<boolean> {
  const row = await ctx.db
    .prepare("SELECT 1 AS taken FROM users WHERE idp_id = ? AND user_name_lower = ? AND id <> ?")
    .bind(ctx.idp.id, userName.toLowerCase(), id)
    .first();
  return row !== null;
}

/**
 * Read → compute (pure) → write guarded by `WHERE version = ?`. Without If-Match, losing the race
 * to a concurrent writer re-reads and recomputes (bounded, jittered: `retryWithJitter`), so every
 * request succeeds and none overwrites a change it did not see. With If-Match, a lost race is a
 * failed precondition (412) and nothing is written. The session side effects (revocation on
 * deactivation) run between compute and write, fail closed; when the write is then refused, the
 * gate is put back in line with D1 (`afterFailedWrite`).
 */
async function updateUser(ctx: DirectoryContext, id: string, ifMatch: string | undefined, compute: (current: ScimObject) => Computed): Promise<ScimObject> {
  // The strongest change an earlier, lost attempt made to the gate; reconciled if no later attempt redoes it.
  let touched: GateTouch = "none";
  // Compensate only when the write is known not to have committed: a SCIM 4xx (validation, conflict,
  // 412) or the 503 after losing every race. A raw D1 fault may have committed: the gate stays closed.
  const fail = async (error: unknown): Promise<never> => {
    if (error instanceof ScimError && (error.status < 500 || error.status === 503)) await afterFailedWrite(ctx, id, touched, error.message);
    throw error;
  };
  let result: ScimObject | undefined;
  try {
    result = await retryWithJitter<ScimObject>(async (attempt) => {
      // A user write never changes memberships, so the groups read here render the response too.
      const found = await findUserWithGroups(ctx, id);
      if (!found) throw scimErrors.notFound(`User ${id} not found`);
      const { row, groups } = found;
      assertIfMatch(ifMatch, row.version);
      const current = currentResource(row);
      const { next, changed, assertsActive } = compute(current);
      const before = userColumns(current);
      const cols = userColumns(changed ? next : current);
      const json = storedResource(next);
      // An explicit active=true on an active user reopens the gate once (first attempt): a later
      // attempt after a lost race sees a concurrent deactivation as a real reactivation anyway.
      const transition: UserTransition = { userId: id, wasActive: before.active, isActive: cols.active, email: cols.email, version: row.version, assertsActive: assertsActive === true && attempt === 0 };
      const noop = !changed || (json === row.resource && cols.externalId === row.external_id && cols.active === (row.active === 1));
      // Validate what D1 would refuse BEFORE the object is touched: a deactivation carrying a
      // colliding userName must not revoke sessions and then fail (the object and D1 would disagree).
      if (!noop && touchesGate(transition) && cols.userName.toLowerCase() !== row.user_name_lower && (await userNameTaken(ctx, id, cols.userName))) {
        throw scimErrors.uniqueness("A user with this userName already exists");
      }
      const { audit, touch } = await beforeUserWrite(ctx, transition);
      if (touch !== "none") touched = touch;
      if (noop) {
        // An earlier lost attempt may have changed the gate for a state a concurrent writer then made moot.
        if (touch === "none") await afterFailedWrite(ctx, id, touched, "superseded by a concurrent write");
        return { done: true, value: renderUser(row, ctx.scimBase, groups) };
      }
      const now = nowIso();
      const statements = [
        ...audit,
        ...(sameEmails(before.emails, cols.emails) ? [] : replaceEmailStatements(ctx, id, cols.emails, row.version)),
        updateUserStatement(ctx, id, cols, json, now, row.version),
      ];
      const results = await runBatch(ctx.db, statements);
      if (results[results.length - 1]?.meta.changes === 1) {
        if (touch === "none") await afterFailedWrite(ctx, id, touched, "superseded by a concurrent write");
        touched = "none";
        const updated = userRow({ id, idp_id: row.idp_id, version: row.version + 1, created_at: row.created_at, updated_at: now }, cols, json);
        return { done: true, value: renderUser(updated, ctx.scimBase, groups) };
      }
      // Lost a race with another writer: with If-Match that is a failed precondition, otherwise re-read and retry.
      if (ifMatch !== undefined) throw scimErrors.preconditionFailed("The user changed while this request was applied");
      return { done: false };
    }, WRITE_RETRY);
  } catch (error) {
    return fail(error);
  }
  if (result === undefined) return fail(scimErrors.unavailable("The user is being modified concurrently; retry the request"));
  return result;
}

/** DELETE /Users/:id: sessions are revoked first (when the connection deprovisions), then the row goes (Entra deletes; Okta never does). */
export async function deleteUser(ctx: DirectoryContext, id: string, ifMatch?: string): Promise<{ email: string | null; externalId: string | null }> {
  const row = await findUser(ctx, id);
  if (!row) throw scimErrors.notFound(`User ${id} not found`);
  assertIfMatch(ifMatch, row.version);
  const transition: UserTransition = { userId: id, wasActive: row.active === 1, isActive: false, email: row.email, version: row.version, deleted: true };
  const { audit } = await beforeUserWrite(ctx, transition);
  // A deleted user's gate stays closed whatever happens next: nothing to compensate.
  await runBatch(ctx.db, [...audit, deleteUserStatement(ctx, id)]);
  return { email: row.email, externalId: row.external_id };
}
