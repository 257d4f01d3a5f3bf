// An app's policies (Cloudflare's `/access/apps/:app_id/policies`): validated with the evaluator's
// zod schema, checked against the directory (see references.ts), written in one batch with the audit row.
import { nowIso } from "../../db";
import { apiErrors } from "../../http/api-error";
import { auditStatement } from "../../logs/audit";
import { parsePolicy, type Policy } from "../policy/rules";
import { checkSessionDuration } from "./duration";
import { isUniqueViolation } from "../../http/input";
import { resultInfo, type ListPage, type Paged } from "../../http/pagination";
import { checkReferences, groupsExistGuard, referencedGroupIds } from "./references";
import { policyFromRow, renderPolicy, type PolicyRow, type StoredPolicy } from "./types";

export interface PolicyContext {
  db: D1Database;
  actor: string;
}

/** The failure a guarded write forces when what it checked vanished in between (see `guardedAppId`). */
const GUARD_FAILED = "NOT NULL constraint failed: access_policies.app_id";

/**
 * Parses a policy body over `current` (an update keeps the fields it leaves out). `precedence` may be
 * left out of a create: the write assigns max + 1.
 */
function parse(body: unknown, current?: StoredPolicy): { policy: Policy; autoPrecedence: boolean } {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw apiErrors.invalid("(body): must be a JSON object");
  const given = body as Record<string, unknown>;
  const base = current ? (({ id: _i, created_at: _c, updated_at: _u, ...rest }) => rest)(renderPolicy(current)) : {};
  const merged: Record<string, unknown> = { ...base, ...given };
  if (merged.session_duration === null || merged.session_duration === undefined) delete merged.session_duration;
  const autoPrecedence = merged.precedence === undefined;
  const parsed = parsePolicy(autoPrecedence ? { ...merged, precedence: 1 } : merged);
  if (!parsed.ok) throw apiErrors.invalid(parsed.error);
  if (parsed.value.session_duration !== undefined) {
    const d = checkSessionDuration(parsed.value.session_duration);
    if (!d.ok) throw apiErrors.invalid(`session_duration: ${d.error}`);
  }
  return { policy: parsed.value, autoPrecedence };
}

async function validateReferences(db: D1Database, policy: Policy): Promise<void> {
  const problems = await checkReferences(db, policy);
  if (problems.length > 0) throw apiErrors.invalid(problems.join("; "));
}

/** The 409 for a precedence another policy of the app holds. */
async function precedenceTaken(db: D1Database, appId: string, precedence: number, exceptId: string) {
  const other = await db
    .prepare("SELECT id, name FROM access_policies WHERE app_id = ? AND precedence = ? AND id != ?")
    .bind(appId, precedence, exceptId)
    .first<{ id: string; name: string }>();
  const who = other ? `policy "${other.name}" (${other.id})` : "another policy";
  return apiErrors.conflict(`precedence: ${precedence} is already used by ${who} of this app; precedences are unique per app (leave precedence out to append)`);
}

/**
 * Runs a guarded policy write. Its `app_id` becomes NULL (a NOT NULL failure that rolls the whole batch
 * back, audit row included) when the app or a named reusable group vanished since the checks; the
 * error is then diagnosed again so the client gets the 404/400 it would have got a moment later.
 */
async function write(ctx: PolicyContext, appId: string, policy: Policy, id: string, statements: D1PreparedStatement[]) {
  try {
    return await ctx.db.batch(statements);
  } catch (error) {
    if (isUniqueViolation(error, "access_policies.precedence")) throw await precedenceTaken(ctx.db, appId, policy.precedence, id);
    if (error instanceof Error && `${error.message} ${String(error.cause ?? "")}`.includes(GUARD_FAILED)) {
      await getPolicies(ctx.db, appId); // 404 when the app is gone
      await validateReferences(ctx.db, policy);
      throw apiErrors.conflict("A reusable group this policy names changed while it was saved; retry");
    }
    throw error;
  }
}

/** `CASE WHEN <app exists and every named group exists> THEN ? END`: NULL (refused) otherwise. */
function guardedAppId(policy: Policy, appId: string): { sql: string; params: string[] } {
  const guard = groupsExistGuard(referencedGroupIds(policy));
  return { sql: `CASE WHEN EXISTS (SELECT 1 FROM access_apps WHERE id = ?) AND ${guard.sql} THEN ? END`, params: [appId, ...guard.params, appId] };
}

/** Creates a policy; without `precedence` it goes last (max + 1, computed inside the INSERT, so concurrent creates never collide). */
export async function createPolicy(ctx: PolicyContext, appId: string, body: unknown): Promise<StoredPolicy> {
  await getPolicies(ctx.db, appId);
  const { policy, autoPrecedence } = parse(body);
  await validateReferences(ctx.db, policy);
  const id = crypto.randomUUID();
  if (!autoPrecedence) {
    const taken = await ctx.db.prepare("SELECT 1 FROM access_policies WHERE app_id = ? AND precedence = ?").bind(appId, policy.precedence).first();
    if (taken) throw await precedenceTaken(ctx.db, appId, policy.precedence, id);
  }
  const now = nowIso();
  const app = guardedAppId(policy, appId);
  const precedence = autoPrecedence
    ? { sql: "(SELECT COALESCE(MAX(precedence), 0) + 1 FROM access_policies WHERE app_id = ?)", params: [appId] }
    : { sql: "?", params: [policy.precedence] };
  const [inserted] = await write(ctx, appId, policy, id, [
    ctx.db
      .prepare(
        `INSERT INTO access_policies (id, app_id, name, decision, include, exclude, require, precedence, session_duration, created_at, updated_at)
         SELECT ?, ${app.sql}, ?, ?, ?, ?, ?, ${precedence.sql}, ?, ?, ? RETURNING precedence`,
      )
      .bind(id, ...app.params, policy.name, policy.decision, JSON.stringify(policy.include), JSON.stringify(policy.exclude), JSON.stringify(policy.require), ...precedence.params, policy.session_duration ?? null, now, now),
    auditStatement(ctx.db, { actor: ctx.actor, action: "access_policy.create", targetType: "access_policy", targetId: id, details: { app_id: appId, name: policy.name, decision: policy.decision } }),
  ]);
  const assigned = (inserted?.results[0] as { precedence: number } | undefined)?.precedence ?? policy.precedence;
  return { ...policy, precedence: assigned, id, appId, sessionDuration: policy.session_duration ?? null, createdAt: now, updatedAt: now };
}

/** An app's policies in precedence order; 404 when the app does not exist. */
export async function getPolicies(db: D1Database, appId: string): Promise<StoredPolicy[]> {
  const [app, policies] = await db.batch([
    db.prepare("SELECT 1 FROM access_apps WHERE id = ?").bind(appId),
    db.prepare("SELECT * FROM access_policies WHERE app_id = ? ORDER BY precedence").bind(appId),
  ]);
  if ((app?.results.length ?? 0) === 0) throw apiErrors.notFound("Access application");
  return ((policies?.results ?? []) as PolicyRow[]).map(policyFromRow);
}

/** `GET /access/apps/:id/policies?page=&per_page=`: one page of an app's policies in precedence order; 404 when the app does not exist. */
export async function listPolicies(db: D1Database, appId: string, page: ListPage): Promise<Paged<StoredPolicy>> {
  const [app, rows, count] = await db.batch([
    db.prepare("SELECT 1 FROM access_apps WHERE id = ?").bind(appId),
    db.prepare("SELECT * FROM access_policies WHERE app_id = ? ORDER BY precedence LIMIT ? OFFSET ?").bind(appId, page.per_page, (page.page - 1) * page.per_page),
    db.prepare("SELECT count(*) AS n FROM access_policies WHERE app_id = ?").bind(appId),
  ]);
  if ((app?.results.length ?? 0) === 0) throw apiErrors.notFound("Access application");
  const result = ((rows?.results ?? []) as PolicyRow[]).map(policyFromRow);
  return { result, result_info: resultInfo(page, result.length, (count?.results[0] as { n: number }).n) };
}

/** One policy of an app, or a 404. */
export async function getPolicy(db: D1Database, appId: string, id: string): Promise<StoredPolicy> {
  const found = (await getPolicies(db, appId)).find((p) => p.id === id);
  if (!found) throw apiErrors.notFound("Access policy");
  return found;
}

/** Updates a policy; fields left out keep their values. */
export async function updatePolicy(ctx: PolicyContext, appId: string, id: string, body: unknown): Promise<StoredPolicy> {
  const current = await getPolicy(ctx.db, appId, id);
  const { policy } = parse(body, current);
  await validateReferences(ctx.db, policy);
  if (policy.precedence !== current.precedence) {
    const taken = await ctx.db.prepare("SELECT 1 FROM access_policies WHERE app_id = ? AND precedence = ? AND id != ?").bind(appId, policy.precedence, id).first();
    if (taken) throw await precedenceTaken(ctx.db, appId, policy.precedence, id);
  }
  const now = nowIso();
  const app = guardedAppId(policy, appId);
  const [updated] = await write(ctx, appId, policy, id, [
    ctx.db
      .prepare(`UPDATE access_policies SET app_id = ${app.sql}, name = ?, decision = ?, include = ?, exclude = ?, require = ?, precedence = ?, session_duration = ?, updated_at = ? WHERE id = ? AND app_id = ?`)
      .bind(...app.params, policy.name, policy.decision, JSON.stringify(policy.include), JSON.stringify(policy.exclude), JSON.stringify(policy.require), policy.precedence, policy.session_duration ?? null, now, id, appId),
    auditStatement(ctx.db, { actor: ctx.actor, action: "access_policy.update", targetType: "access_policy", targetId: id, details: { app_id: appId, fields: Object.keys(body as object) } }),
  ]);
  if ((updated?.meta.changes ?? 0) === 0) throw apiErrors.notFound("Access policy");
  return { ...policy, id, appId, sessionDuration: policy.session_duration ?? null, createdAt: current.createdAt, updatedAt: now };
}

/** Deletes one policy of an app. */
export async function deletePolicy(ctx: PolicyContext, appId: string, id: string): Promise<void> {
  const current = await getPolicy(ctx.db, appId, id);
  await ctx.db.batch([
    ctx.db.prepare("DELETE FROM access_policies WHERE id = ? AND app_id = ?").bind(id, appId),
    auditStatement(ctx.db, { actor: ctx.actor, action: "access_policy.delete", targetType: "access_policy", targetId: id, details: { app_id: appId, name: current.name } }),
  ]);
}
