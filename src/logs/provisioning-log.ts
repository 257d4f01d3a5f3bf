import { and, desc, asc, eq, gte, inArray, lte, lt, sql, type SQL } from "drizzle-orm";
import { z } from "zod";
import { provisioningLog } from "../../schema";
import { apiErrors } from "../http/api-error";
import type { Database } from "../db";

export type ProvisioningLogRow = typeof provisioningLog.$inferInsert;

/** Writes one provisioning-log row (Cloudflare's SCIM log fields). */
export async function writeProvisioningLog(db: Database, row: Omit<ProvisioningLogRow, "id" | "loggedAt">): Promise<void> {
  await db.insert(provisioningLog).values({ id: crypto.randomUUID(), loggedAt: new Date().toISOString(), ...row });
}

/** Deletes rows older than the retention period; returns how many went. */
export async function pruneProvisioningLog(db: Database, retentionDays: number, now = Date.now()): Promise<number> {
  const cutoff = new Date(now - retentionDays * 86_400_000).toISOString();
  const result = await db.delete(provisioningLog).where(lt(provisioningLog.loggedAt, cutoff));
  return result.meta.changes ?? 0;
}

const many = <T extends z.ZodType>(item: T) => z.array(item).optional();
const querySchema = z.object({
  since: z.iso.datetime({ offset: true }).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
  status: many(z.enum(["SUCCESS", "FAILURE"])),
  request_method: many(z.enum(["GET", "POST", "PUT", "PATCH", "DELETE"])),
  resource_type: many(z.enum(["USER", "GROUP", "OTHER"])),
  idp_id: many(z.string().max(64)),
  cf_resource_id: z.string().max(64).optional(),
  idp_resource_id: z.string().max(256).optional(),
  resource_user_email: z.string().trim().max(320).optional(),
  resource_group_name: z.string().trim().max(256).optional(),
  direction: z.enum(["asc", "desc"]).default("desc"),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  /** Our addition for the dashboard: pages of `limit` rows. */
  page: z.coerce.number().int().min(1).max(1000).default(1),
});

/** Reads Cloudflare's query parameters; list filters accept both `status[]=X` and `status=X` repeated. */
export function parseLogQuery(url: URL) {
  const q = url.searchParams;
  const list = (name: string) => {
    const values = [...q.getAll(name), ...q.getAll(`${name}[]`)].flatMap((v) => v.split(",")).map((v) => v.trim().toUpperCase()).filter(Boolean);
    return values.length ? values : undefined;
  };
  const parsed = querySchema.safeParse({
    since: q.get("since") ?? undefined,
    until: q.get("until") ?? undefined,
    status: list("status"),
    request_method: list("request_method"),
    resource_type: list("resource_type"),
    idp_id: [...q.getAll("idp_id"), ...q.getAll("idp_id[]")].filter(Boolean).length ? [...q.getAll("idp_id"), ...q.getAll("idp_id[]")] : undefined,
    cf_resource_id: q.get("cf_resource_id") ?? undefined,
    idp_resource_id: q.get("idp_resource_id") ?? undefined,
    resource_user_email: q.get("resource_user_email") || undefined,
    resource_group_name: q.get("resource_group_name") || undefined,
    direction: q.get("direction")?.toLowerCase() ?? undefined,
    limit: q.get("limit") ?? undefined,
    page: q.get("page") ?? undefined,
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw apiErrors.invalid(`${issue?.path.join(".") || "query"}: ${issue?.message ?? "invalid"}`);
  }
  return parsed.data;
}

/** `GET /api/v1/access/logs/scim/updates`: newest first by default, bounded by `limit`. */
export async function queryProvisioningLog(db: Database, query: ReturnType<typeof parseLogQuery>) {
  const where: SQL[] = [];
  if (query.since) where.push(gte(provisioningLog.loggedAt, new Date(query.since).toISOString()));
  if (query.until) where.push(lte(provisioningLog.loggedAt, new Date(query.until).toISOString()));
  if (query.status) where.push(inArray(provisioningLog.status, query.status));
  if (query.request_method) where.push(inArray(provisioningLog.requestMethod, query.request_method));
  if (query.resource_type) where.push(inArray(provisioningLog.resourceType, query.resource_type));
  if (query.idp_id) where.push(inArray(provisioningLog.idpId, query.idp_id));
  if (query.cf_resource_id) where.push(eq(provisioningLog.cfResourceId, query.cf_resource_id));
  if (query.idp_resource_id) where.push(eq(provisioningLog.idpResourceId, query.idp_resource_id));
  // Emails and group names compare case-insensitively (RFC 7643: emails.value and Group displayName are caseExact=false).
  if (query.resource_user_email) where.push(sql`${provisioningLog.resourceUserEmail} = ${query.resource_user_email} COLLATE NOCASE`);
  if (query.resource_group_name) where.push(sql`${provisioningLog.resourceGroupName} = ${query.resource_group_name} COLLATE NOCASE`);
  const order = query.direction === "asc" ? [asc(provisioningLog.loggedAt), asc(provisioningLog.id)] : [desc(provisioningLog.loggedAt), desc(provisioningLog.id)];
  const rows = await db.select().from(provisioningLog).where(and(...where)).orderBy(...order).limit(query.limit).offset((query.page - 1) * query.limit);
  return rows.map((r) => ({
    logged_at: r.loggedAt,
    idp_id: r.idpId,
    request_method: r.requestMethod,
    resource_type: r.resourceType,
    resource_user_email: r.resourceUserEmail,
    resource_group_name: r.resourceGroupName,
    cf_resource_id: r.cfResourceId,
    idp_resource_id: r.idpResourceId,
    status: r.status,
    http_status: r.httpStatus,
    error_description: r.errorDescription,
    request_body: r.requestBody,
  }));
}

/** The provisioning-log query schema, for the OpenAPI document (src/admin/openapi.ts). */
export { querySchema as provisioningLogQuerySchema };
