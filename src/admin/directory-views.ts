import { z } from "zod";
import { apiErrors } from "../http/api-error";
import { resultInfo } from "../http/pagination";

const pageSchema = z.object({
  page: z.coerce.number().int().min(1).default(1),
  per_page: z.coerce.number().int().min(1).max(1000).default(50),
});

/** The admin's view of provisioned users (Cloudflare's `GET …/identity_providers/:id/scim/users`). */
export async function listScimUsers(db: D1Database, idpId: string, url: URL) {
  const q = url.searchParams;
  const { page, per_page } = parsePage(q);
  const where = ["idp_id = ?"];
  const params: (string | number)[] = [idpId];
  const add = (clause: string, value: string | null) => {
    if (value) (where.push(clause), params.push(value));
  };
  add("email = ?", q.get("email")?.toLowerCase() ?? null);
  add("user_name_lower = ?", q.get("username")?.toLowerCase() ?? null);
  add("(display_name = ? COLLATE NOCASE)", q.get("name"));
  add("external_id = ?", q.get("idp_resource_id"));
  add("id = ?", q.get("cf_resource_id"));
  const sql = where.join(" AND ");
  const [rows, count] = await db.batch([
    db.prepare(`SELECT id, external_id, user_name, display_name, email, active, created_at, updated_at FROM users WHERE ${sql} ORDER BY created_at, id LIMIT ? OFFSET ?`).bind(...params, per_page, (page - 1) * per_page),
    db.prepare(`SELECT count(*) AS n FROM users WHERE ${sql}`).bind(...params),
  ]);
  const result = (rows!.results as Record<string, unknown>[]).map((r) => ({
    cf_resource_id: r.id,
    idp_resource_id: r.external_id,
    username: r.user_name,
    name: r.display_name,
    email: r.email,
    is_active: r.active === 1,
    created_at: r.created_at,
    updated_at: r.updated_at,
  }));
  return { result, result_info: resultInfo({ page, per_page }, result.length, (count!.results[0] as { n: number }).n) };
}

/** The admin's view of provisioned groups (`GET …/identity_providers/:id/scim/groups`); also feeds the policy-builder dropdown. */
export async function listScimGroups(db: D1Database, idpId: string, url: URL) {
  const q = url.searchParams;
  const { page, per_page } = parsePage(q);
  const where = ["g.idp_id = ?"];
  const params: (string | number)[] = [idpId];
  const add = (clause: string, value: string | null) => {
    if (value) (where.push(clause), params.push(value));
  };
  add("g.display_name_lower = ?", q.get("name")?.toLowerCase() ?? null);
  // `search`: case-insensitive prefix, as a range over the (idp_id, display_name_lower) unique index
  // (a LIKE would scan: SQLite's LIKE optimisation needs a NOCASE column), for the policy builders' dropdown.
  const range = prefixRange(q.get("search")?.toLowerCase() ?? "");
  if (range) {
    where.push(range.upper === null ? "g.display_name_lower >= ?" : "g.display_name_lower >= ? AND g.display_name_lower < ?");
    params.push(range.lower, ...(range.upper === null ? [] : [range.upper]));
  }
  add("g.external_id = ?", q.get("idp_resource_id"));
  add("g.id = ?", q.get("cf_resource_id"));
  const sql = where.join(" AND ");
  const [rows, count] = await db.batch([
    db.prepare(`SELECT g.id, g.external_id, g.display_name, g.created_at, g.updated_at FROM groups g WHERE ${sql} ORDER BY g.display_name_lower, g.id LIMIT ? OFFSET ?`).bind(...params, per_page, (page - 1) * per_page),
    db.prepare(`SELECT count(*) AS n FROM groups g WHERE ${sql}`).bind(...params),
  ]);
  const result = (rows!.results as Record<string, unknown>[]).map((r) => ({
    cf_resource_id: r.id,
    idp_resource_id: r.external_id,
    display_name: r.display_name,
    created_at: r.created_at,
    updated_at: r.updated_at,
  }));
  return { result, result_info: resultInfo({ page, per_page }, result.length, (count!.results[0] as { n: number }).n) };
}

/**
 * `[prefix, successor)`: every string starting with `prefix` and nothing else, in SQLite's BINARY
 * (UTF-8 byte = code point) order; the successor bumps the last code point (none past U+10FFFF).
 */
export function prefixRange(prefix: string): { lower: string; upper: string | null } | null {
  if (prefix === "") return null;
  const points = Array.from(prefix);
  while (points.length > 0) {
    const last = points.pop()!.codePointAt(0)!;
    let next = last + 1;
    if (next >= 0xd800 && next <= 0xdfff) next = 0xe000; // not a scalar value; skip the surrogate block
    if (next <= 0x10ffff) return { lower: prefix, upper: points.join("") + String.fromCodePoint(next) };
  }
  return { lower: prefix, upper: null };
}

function parsePage(q: URLSearchParams) {
  const parsed = pageSchema.safeParse({ page: q.get("page") ?? undefined, per_page: q.get("per_page") ?? undefined });
  if (!parsed.success) throw apiErrors.invalid(`${parsed.error.issues[0]?.path.join(".")}: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}



/** The paging query schema, for the OpenAPI document (src/admin/openapi.ts). */
export { pageSchema };
