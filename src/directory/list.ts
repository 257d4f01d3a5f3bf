import { compileFilter, compileSort } from "../scim/filter/compile";
import { parseFilter } from "../scim/filter/parse";
import { unwrap } from "../scim/errors";
import type { ListParams } from "../scim/list-params";
import type { DirectoryContext } from "./context";


/**
 * Runs a SCIM list query (RFC 7644 §3.4.2) over `users u` or `groups g`: the filter and sort are
 * compiled to parameterised SQL over indexed columns; paging is `LIMIT/OFFSET` with a total
 * order (`…, id`), so pages are stable. The count query is skipped when the first page already
 * holds every match.
 */
export async function listRows<Row>(
  ctx: DirectoryContext,
  resourceType: "User" | "Group",
  params: ListParams,
): Promise<{ rows: Row[]; totalResults: number }> {
  const table = resourceType === "User" ? "users u" : "groups g";
  const alias = resourceType === "User" ? "u" : "g";
  let where = "1 = 1";
  let whereParams: (string | number | null)[] = [];
  if (params.filter !== undefined && params.filter.trim() !== "") {
    // compileFilter caps its parameters below D1's 100, leaving room for ours (idp id, sort, limit, offset).
    const compiled = unwrap(compileFilter(unwrap(parseFilter(params.filter)), resourceType));
    where = compiled.where;
    whereParams = compiled.params;
  }
  const sort = unwrap(compileSort(params.sortBy, params.sortOrder, resourceType));
  const base = `FROM ${table} WHERE ${alias}.idp_id = ? AND (${where})`;
  const countStatement = ctx.db.prepare(`SELECT count(*) AS n ${base}`).bind(ctx.idp.id, ...whereParams);
  if (params.count === 0) {
    const n = await countStatement.first<number>("n");
    return { rows: [], totalResults: n ?? 0 };
  }
  const offset = params.startIndex - 1;
  const page = await ctx.db
    .prepare(`SELECT ${alias}.* ${base} ORDER BY ${sort.orderBy} LIMIT ? OFFSET ?`)
    .bind(ctx.idp.id, ...whereParams, ...sort.params, params.count, offset)
    .all<Row>();
  const rows = page.results;
  if (offset === 0 && rows.length < params.count) return { rows, totalResults: rows.length };
  const n = await countStatement.first<number>("n");
  return { rows, totalResults: n ?? rows.length };
}
