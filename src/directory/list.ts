import { compileFilter, compileSort } from "../scim/filter/compile";
import { parseFilter } from "../scim/filter/parse";
import type { Filter } from "../scim/filter/ast";
import { unwrap, type Result } from "../scim/errors";
import type { ListParams } from "../scim/list-params";
import type { DirectoryContext } from "./context";

type ResourceType = "User" | "Group";

/** A compiled list query over `users u` or `groups g` of one connection. */
interface ListQuery {
  base: string;
  params: (string | number | null)[];
  orderBy: string;
  sortParams: (string | number | null)[];
  alias: "u" | "g";
}

function compileQuery(ctx: DirectoryContext, resourceType: ResourceType, filter: Filter | undefined, params: ListParams): Result<ListQuery> {
  const alias = resourceType === "User" ? "u" : "g";
  const table = resourceType === "User" ? "users u" : "groups g";
  let where = "1 = 1";
  let whereParams: (string | number | null)[] = [];
  if (filter) {
    // compileFilter caps its parameters below D1's 100, leaving room for ours (idp id, sort, limit, offset).
    const compiled = compileFilter(filter, resourceType, { idpId: ctx.idp.id });
    if (!compiled.ok) return compiled;
    where = compiled.value.where;
    whereParams = compiled.value.params;
  }
  const sort = compileSort(params.sortBy, params.sortOrder, resourceType);
  if (!sort.ok) return sort;
  return {
    ok: true,
    value: { base: `FROM ${table} WHERE ${alias}.idp_id = ? AND (${where})`, params: [ctx.idp.id, ...whereParams], orderBy: sort.value.orderBy, sortParams: sort.value.params, alias },
  };
}

function parsedFilter(params: ListParams): Filter | undefined {
  return params.filter !== undefined && params.filter.trim() !== "" ? unwrap(parseFilter(params.filter)) : undefined;
}

function countStatement(ctx: DirectoryContext, q: ListQuery): D1PreparedStatement {
  return ctx.db.prepare(`SELECT count(*) AS n ${q.base}`).bind(...q.params);
}

/** The page's rows (`columns` = `u.*` / `g.*`), or as `u.id` a subquery for its related rows. */
function pageSql(q: ListQuery, columns: string, limit: number, offset: number): PageIds {
  return { sql: `SELECT ${columns} ${q.base} ORDER BY ${q.orderBy} LIMIT ? OFFSET ?`, params: [...q.params, ...q.sortParams, limit, offset] };
}

async function countOf(ctx: DirectoryContext, q: ListQuery): Promise<number> {
  return (await countStatement(ctx, q).first<number>("n")) ?? 0;
}

async function pageOf<Row>(ctx: DirectoryContext, q: ListQuery, limit: number, offset: number): Promise<Row[]> {
  if (limit <= 0) return [];
  const page = pageSql(q, `${q.alias}.*`, limit, offset);
  return (await ctx.db.prepare(page.sql).bind(...page.params).all<Row>()).results;
}

/** The ids of one page, as SQL and its parameters, for a statement that loads the page's related rows. */
export type PageIds = { sql: string; params: (string | number | null)[] };

/** D1 binds at most 100 parameters per statement. */
const D1_MAX_PARAMS = 100;

/**
 * Runs a SCIM list query (RFC 7644 §3.4.2) over `users u` or `groups g`: the filter and sort are
 * compiled to parameterised SQL over indexed columns; paging is `LIMIT/OFFSET` with a total
 * order (`…, id`), so pages are stable. One round trip: the page, the related rows `companion`
 * loads for it (users' groups, groups' members) and `totalResults` go in one batch. An
 * unfiltered total is read from `directory_counts` (kept by triggers), not counted; a filtered
 * first page that is not full is its own total.
 */
export async function listRows<Row>(
  ctx: DirectoryContext,
  resourceType: ResourceType,
  params: ListParams,
  companion?: (page: PageIds) => D1PreparedStatement,
): Promise<{ rows: Row[]; totalResults: number; related?: unknown[] }> {
  const filter = parsedFilter(params);
  const q = unwrap(compileQuery(ctx, resourceType, filter, params));
  const counter = resourceType === "User" ? "users" : "groups";
  const total = filter
    ? countStatement(ctx, q)
    : ctx.db
        .prepare(`SELECT coalesce((SELECT ${counter} FROM directory_counts WHERE idp_id = ?), (SELECT count(*) FROM ${counter} WHERE idp_id = ?)) AS n`)
        .bind(ctx.idp.id, ctx.idp.id);
  if (params.count === 0) return { rows: [], totalResults: (await total.first<number>("n")) ?? 0 };
  const offset = params.startIndex - 1;
  const page = pageSql(q, `${q.alias}.*`, params.count, offset);
  const statements = [ctx.db.prepare(page.sql).bind(...page.params)];
  const withCompanion = companion !== undefined && page.params.length <= D1_MAX_PARAMS;
  if (withCompanion) statements.push(companion(pageSql(q, `${q.alias}.id`, params.count, offset)));
  const withCount = !filter || offset > 0;
  if (withCount) statements.push(total);
  const results = await ctx.db.batch(statements);
  const rows = results[0]!.results as Row[];
  const related = withCompanion ? results[1]!.results : undefined;
  let totalResults: number;
  if (withCount) totalResults = (results[results.length - 1]!.results[0] as { n: number }).n;
  else if (rows.length < params.count) totalResults = rows.length;
  else totalResults = (await total.first<number>("n")) ?? rows.length;
  return { rows, totalResults, related };
}

/**
 * `POST /.search` at the service provider root (RFC 7644 §3.4.3): the filter runs against every
 * resource type it is valid for; results are users, then groups (each in its own sort order),
 * paged across both. A filter valid for neither type is `invalidFilter`.
 */
export async function searchAllRows<U, G>(ctx: DirectoryContext, params: ListParams): Promise<{ users: U[]; groups: G[]; totalResults: number }> {
  const filter = parsedFilter(params);
  const userQ = compileQuery(ctx, "User", filter, params);
  const groupQ = compileQuery(ctx, "Group", filter, params);
  if (!userQ.ok && !groupQ.ok) throw userQ.error;
  const [nUsers, nGroups] = await Promise.all([userQ.ok ? countOf(ctx, userQ.value) : 0, groupQ.ok ? countOf(ctx, groupQ.value) : 0]);
  const offset = params.startIndex - 1;
  const users = userQ.ok && offset < nUsers ? await pageOf<U>(ctx, userQ.value, params.count, offset) : [];
  const groupOffset = Math.max(0, offset - nUsers);
  const groups = groupQ.ok ? await pageOf<G>(ctx, groupQ.value, params.count - users.length, groupOffset) : [];
  return { users, groups, totalResults: nUsers + nGroups };
}
