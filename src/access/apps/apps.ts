// Access applications: create, read, update, delete (Cloudflare's `/access/apps`, self-hosted only).
import { z } from "zod";
import { nowIso } from "../../db";
import { apiErrors } from "../../http/api-error";
import { auditStatement } from "../../logs/audit";
import { checkSessionDuration } from "./duration";
import { hostName, normaliseDomain, normaliseOrigin } from "./domain";
import { isUniqueViolation, parseBody } from "../../http/input";
import { FIRST_PAGE, pagedRows, type ListPage, type Paged } from "../../http/pagination";
import { appFromRow, type AccessApp, type AppRow } from "./types";
import { randomHex } from "../../lib/crypto";

/** 64 lower-case hex characters from 32 random bytes: an app's `aud` tag (Cloudflare's format). */
function randomAud(): string {
  return randomHex(32);
}

const appSchema = z.strictObject({
  name: z.string().trim().min(1, "must not be empty").max(200),
  domain: z.string(),
  type: z.literal("self_hosted", { error: 'only "self_hosted" applications are supported' }).optional(),
  allowed_idps: z.array(z.string().min(1).max(128)).max(50).optional(),
  session_duration: z.string().optional(),
  origin: z.string(),
});
const updateSchema = appSchema.partial();

/** Where the admin API and SCIM are served: an app there would capture them (and share their cookies). */
export interface AppContext {
  db: D1Database;
  actor: string;
  /** Host names (no port) of the Worker itself; cookies do not isolate ports (RFC 6265 §8.5), so any port is refused. */
  reservedHosts: string[];
}

interface AppFields {
  name: string;
  domain: string;
  host: string;
  pathPrefix: string;
  allowedIdps: string[];
  sessionDuration: string;
  origin: string;
}

/** Validates the fields of an app (merged over `current` for an update); throws a 400 on the first problem. */
async function validate(ctx: AppContext, input: z.output<typeof updateSchema>, current?: AccessApp): Promise<AppFields> {
  const domain = normaliseDomain(input.domain ?? current?.domain);
  if ("error" in domain) throw apiErrors.invalid(domain.error);
  if (ctx.reservedHosts.includes(hostName(domain.host))) {
    throw apiErrors.invalid(`domain: ${hostName(domain.host)} is this Worker's own host (it serves the admin API, SCIM and the Access login pages); give the app its own host name`);
  }
  const origin = normaliseOrigin(input.origin ?? current?.origin);
  if ("error" in origin) throw apiErrors.invalid(origin.error);
  const sessionDuration = input.session_duration ?? current?.sessionDuration ?? "24h";
  const duration = checkSessionDuration(sessionDuration);
  if (!duration.ok) throw apiErrors.invalid(`session_duration: ${duration.error}`);
  const allowedIdps = [...new Set(input.allowed_idps ?? current?.allowedIdps ?? [])];
  if (allowedIdps.length > 0) {
    const rows = await ctx.db.prepare(`SELECT id FROM identity_providers WHERE id IN (${allowedIdps.map(() => "?").join(",")})`).bind(...allowedIdps).all<{ id: string }>();
    const known = new Set(rows.results.map((r) => r.id));
    const unknown = allowedIdps.filter((id) => !known.has(id));
    if (unknown.length > 0) throw apiErrors.invalid(`allowed_idps: no identity provider with id ${unknown.map((u) => `"${u}"`).join(", ")}`);
  }
  const name = input.name ?? current?.name ?? "";
  return { name, domain: domain.domain, host: domain.host, pathPrefix: domain.pathPrefix, allowedIdps, sessionDuration, origin: origin.origin };
}

/** The app other than `exceptId` that serves `host` + `pathPrefix`, if any. */
function domainOwner(db: D1Database, f: AppFields, exceptId: string | null) {
  return db
    .prepare("SELECT id, name FROM access_apps WHERE host = ? AND path_prefix = ? AND id IS NOT ?")
    .bind(f.host, f.pathPrefix, exceptId)
    .first<{ id: string; name: string }>();
}

/** A clear 409 naming the app that already serves the domain. */
function domainTaken(f: AppFields, other: { id: string; name: string } | null) {
  const who = other ? `app "${other.name}" (${other.id})` : "another app";
  return apiErrors.conflict(`domain: ${f.domain} is already served by ${who}; each host and path prefix belongs to one app`);
}

/** Runs an app write; a UNIQUE violation of (host, path_prefix) (two writes racing past the check) is the same 409. */
async function writeApp(ctx: AppContext, f: AppFields, id: string, statements: D1PreparedStatement[]): Promise<D1Result[]> {
  try {
    return await ctx.db.batch(statements);
  } catch (error) {
    if (isUniqueViolation(error, "access_apps.host")) throw domainTaken(f, await domainOwner(ctx.db, f, id));
    throw error;
  }
}

/** Creates an app with a fresh random `aud`. */
export async function createApp(ctx: AppContext, body: unknown): Promise<AccessApp> {
  const input = parseBody(appSchema, body);
  const f = await validate(ctx, input);
  const id = crypto.randomUUID();
  const owner = await domainOwner(ctx.db, f, id);
  if (owner) throw domainTaken(f, owner);
  const now = nowIso();
  const row: AppRow = {
    id,
    name: f.name,
    domain: f.domain,
    host: f.host,
    path_prefix: f.pathPrefix,
    type: "self_hosted",
    aud: randomAud(),
    allowed_idps: JSON.stringify(f.allowedIdps),
    session_duration: f.sessionDuration,
    origin: f.origin,
    created_at: now,
    updated_at: now,
  };
  await writeApp(ctx, f, id, [
    ctx.db
      .prepare(
        `INSERT INTO access_apps (id, name, domain, host, path_prefix, type, aud, allowed_idps, session_duration, origin, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .bind(row.id, row.name, row.domain, row.host, row.path_prefix, row.type, row.aud, row.allowed_idps, row.session_duration, row.origin, now, now),
    auditStatement(ctx.db, { actor: ctx.actor, action: "access_app.create", targetType: "access_app", targetId: id, details: { name: row.name, domain: row.domain } }),
  ]);
  return appFromRow(row);
}

/** One page of the apps, oldest first. */
export async function listApps(db: D1Database, page: ListPage = FIRST_PAGE): Promise<Paged<AccessApp>> {
  const { rows, info } = await pagedRows<AppRow>(db, "SELECT * FROM access_apps ORDER BY created_at, id", "SELECT count(*) AS n FROM access_apps", [], page);
  return { result: rows.map(appFromRow), result_info: info };
}

/** One app or a 404. */
export async function getApp(db: D1Database, id: string): Promise<AccessApp> {
  const row = await db.prepare("SELECT * FROM access_apps WHERE id = ?").bind(id).first<AppRow>();
  if (!row) throw apiErrors.notFound("Access application");
  return appFromRow(row);
}

/**
 * Updates an app. Fields left out keep their values (so a PUT that forgets `allowed_idps` does not
 * silently open the app to every connection); `aud` never changes.
 */
export async function updateApp(ctx: AppContext, id: string, body: unknown): Promise<AccessApp> {
  const current = await getApp(ctx.db, id);
  const input = parseBody(updateSchema, body);
  const f = await validate(ctx, input, current);
  const owner = await domainOwner(ctx.db, f, id);
  if (owner) throw domainTaken(f, owner);
  const now = nowIso();
  const [update] = await writeApp(ctx, f, id, [
    ctx.db
      .prepare("UPDATE access_apps SET name = ?, domain = ?, host = ?, path_prefix = ?, allowed_idps = ?, session_duration = ?, origin = ?, updated_at = ? WHERE id = ?")
      .bind(f.name, f.domain, f.host, f.pathPrefix, JSON.stringify(f.allowedIdps), f.sessionDuration, f.origin, now, id),
    auditStatement(ctx.db, { actor: ctx.actor, action: "access_app.update", targetType: "access_app", targetId: id, details: { fields: Object.keys(input) } }),
  ]);
  if ((update?.meta.changes ?? 0) === 0) throw apiErrors.notFound("Access application");
  return { ...current, name: f.name, domain: f.domain, host: f.host, pathPrefix: f.pathPrefix, allowedIdps: f.allowedIdps, sessionDuration: f.sessionDuration, origin: f.origin, updatedAt: now };
}

/** Deletes an app; its policies go with it (foreign key cascade). Its sessions are revoked by the caller. */
export async function deleteApp(ctx: AppContext, id: string): Promise<AccessApp> {
  const current = await getApp(ctx.db, id);
  const [deleted] = await ctx.db.batch([
    ctx.db.prepare("DELETE FROM access_apps WHERE id = ?").bind(id),
    auditStatement(ctx.db, { actor: ctx.actor, action: "access_app.delete", targetType: "access_app", targetId: id, details: { name: current.name, domain: current.domain } }),
  ]);
  if ((deleted?.meta.changes ?? 0) === 0) throw apiErrors.notFound("Access application");
  return current;
}

/** The zod schemas of the app bodies, for the OpenAPI document (src/admin/openapi.ts). */
export { appSchema, updateSchema as appUpdateSchema };
