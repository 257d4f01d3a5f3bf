import { decodeCursor, encodeCursor, type CursorBinding, type CursorPosition } from "../scim/cursor";
import { compileFilter, compileSort, type SortSql } from "../scim/filter/compile";
import { parseFilter } from "../scim/filter/parse";
import type { Filter } from "../scim/filter/ast";
import { scimErrors, unwrap, type Result } from "../scim/errors";
import type { PageCursors } from "../scim/list-response";
import type { ListParams } from "../scim/list-params";
import type { IdsSql } from "../db/memberships";
import type { DirectoryContext } from "./context";
import { cursorKey } from "./cursor-key";

type ResourceType = "User" | "Group";

/** A compiled list query over `users u` or `groups g` of one connection. */
interface ListQuery {
  base: string;
  params: (string | number | null)[];
  orderBy: string;
  sortParams: (string | number | null)[];
  sort: SortSql;
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
    value: {
      base: `FROM ${table} WHERE ${alias}.idp_id = ? AND (${where})`,
      params: [ctx.idp.id, ...whereParams],
      orderBy: sort.value.orderBy,
      sortParams: sort.value.params,
      sort: sort.value,
      alias,
    },
  };
}

function parsedFilter(params: ListParams): Filter | undefined {
  return params.filter !== undefined && params.filter.trim() !== "" ? unwrap(parseFilter(params.filter)) : undefined;
}

function countStatement(ctx: DirectoryContext, q: ListQuery): D1PreparedStatement {
  return ctx.db.prepare(`SELECT count(*) AS n ${q.base}`).bind(...q.params);
}

/** The page's rows (`columns` = `u.*` / `g.*`), or as `u.id` a subquery for its related rows. */
function pageSql(q: ListQuery, columns: string, limit: number, offset: number): IdsSql {
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

/** D1 binds at most 100 parameters per statement. */
const D1_MAX_PARAMS = 100;

/**
 * Runs a SCIM list query (RFC 7644 §3.4.2) over `users u` or `groups g`: the filter and sort are
 * compiled to parameterised SQL over indexed columns; paging is `LIMIT/OFFSET` with a total
 * order (`…, id`), so pages are stable. One round trip: the page, the related rows `companion`
 * loads for it (groups' members) and `totalResults` go in one batch. `column` is a further
 * (correlated) column of the page rows, e.g. a user's groups: unlike a companion, which names the page
 * by re-running its query, it costs no second evaluation of the filter. An
 * unfiltered total is read from `directory_counts` (kept by triggers), not counted; a filtered
 * first page that is not full is its own total.
 */
export async function listRows<Row>(
  ctx: DirectoryContext,
  resourceType: ResourceType,
  params: ListParams,
  companion?: (page: IdsSql) => D1PreparedStatement,
  column?: string,
): Promise<{ rows: Row[]; totalResults: number; related?: unknown[]; cursors?: PageCursors }> {
  const filter = parsedFilter(params);
  const q = unwrap(compileQuery(ctx, resourceType, filter, params));
  const counter = resourceType === "User" ? "users" : "groups";
  const total = filter
    ? countStatement(ctx, q)
    : ctx.db
        .prepare(`SELECT coalesce((SELECT ${counter} FROM directory_counts WHERE idp_id = ?), (SELECT count(*) FROM ${counter} WHERE idp_id = ?)) AS n`)
        .bind(ctx.idp.id, ctx.idp.id);
  const columns = column === undefined ? `${q.alias}.*` : `${q.alias}.*, ${column}`;
  if (params.cursor !== undefined) return cursorRows<Row>(ctx, resourceType, params, q, filter !== undefined, total, columns, companion);
  if (params.count === 0) return { rows: [], totalResults: (await total.first<number>("n")) ?? 0 };
  const offset = params.startIndex - 1;
  const page = pageSql(q, columns, params.count, offset);
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

/** The sort key of a cursor page's rows, selected next to them (and removed before rendering). */
const CURSOR_KEY_COLUMN = "scim_cursor_key";

/**
 * A keyset page (RFC 9865 cursor paging): `WHERE (key, id) > (?, ?) ORDER BY key, id LIMIT n + 1` in the
 * query's order, or the mirror image (`<`, reversed order) for a page before a position, so any depth costs
 * one index seek, never an OFFSET walk. NULL keys sort last ascending and first descending (compileSort),
 * which is why a NULL position or a nullable key needs its own branch: `(NULL, id) > (…)` is NULL in SQL.
 */
function keysetSql(q: ListQuery, columns: { sql: string; params: (string | number | null)[] }, limit: number, position: CursorPosition | undefined): IdsSql {
  const { key, nullable } = q.sort;
  const id = `${q.alias}.id`;
  const desc = q.sort.descending !== (position?.before ?? false);
  const dir = desc ? "DESC" : "ASC";
  let where = "";
  const whereParams: (string | number | null)[] = [];
  if (position && position.key === null) {
    // NULLs come last ascending: after a NULL only NULLs with a greater id. Descending they come first: after
    // a NULL, NULLs with a smaller id, then every non-NULL key.
    where = desc ? `((${key.sql} IS NULL AND ${id} < ?) OR ${key.sql} IS NOT NULL)` : `(${key.sql} IS NULL AND ${id} > ?)`;
    whereParams.push(...key.params, position.id, ...(desc ? key.params : []));
  } else if (position) {
    // A row value comparison is what SQLite turns into an index range on (idp_id, key, id).
    where = `(${key.sql}, ${id}) ${desc ? "<" : ">"} (?, ?)`;
    whereParams.push(...key.params, position.key, position.id);
    if (nullable && !desc) {
      where = `(${where} OR ${key.sql} IS NULL)`;
      whereParams.push(...key.params);
    }
  }
  const nulls = nullable ? (desc ? " NULLS FIRST" : " NULLS LAST") : "";
  return {
    sql: `SELECT ${columns.sql} ${q.base}${where ? ` AND ${where}` : ""} ORDER BY ${key.sql} ${dir}${nulls}, ${id} ${dir} LIMIT ?`,
    params: [...columns.params, ...q.params, ...whereParams, ...key.params, limit],
  };
}

/**
 * RFC 9865 cursor paging over the same compiled query. `nextCursor` when a further row exists in the
 * query's order (LIMIT n + 1 tells); `previousCursor` on every page reached through a cursor unless a
 * page before a position found nothing further back (§2: never on the first page). Positions are keys
 * of rows, not offsets: rows inserted or deleted during a walk never shift the rows that already existed.
 */
async function cursorRows<Row>(
  ctx: DirectoryContext,
  resourceType: ResourceType,
  params: ListParams,
  q: ListQuery,
  filtered: boolean,
  total: D1PreparedStatement,
  columns: string,
  companion?: (page: IdsSql) => D1PreparedStatement,
): Promise<{ rows: Row[]; totalResults: number; related?: unknown[]; cursors: PageCursors }> {
  const binding: CursorBinding = { resourceType, idpId: ctx.idp.id, filter: params.filter, sortBy: params.sortBy, sortOrder: params.sortOrder };
  const key = await cursorKey(ctx);
  const now = Date.now() / 1000;
  const position = params.cursor ? unwrap(await decodeCursor(key, params.cursor, binding, now)) : undefined;
  if (params.count === 0) return { rows: [], totalResults: (await total.first<number>("n")) ?? 0, cursors: {} };

  const page = keysetSql(q, { sql: `${columns}, ${q.sort.key.sql} AS ${CURSOR_KEY_COLUMN}`, params: q.sort.key.params }, params.count + 1, position);
  const statements = [ctx.db.prepare(page.sql).bind(...page.params)];
  const withCompanion = companion !== undefined && page.params.length <= D1_MAX_PARAMS;
  // The page is the first n of those n + 1 rows in the same order, so LIMIT n selects exactly its ids
  // (never the spare row's related rows: a spare group could have 50,000 members).
  if (withCompanion) statements.push(companion(keysetSql(q, { sql: `${q.alias}.id`, params: [] }, params.count, position)));
  const withCount = !filtered || position !== undefined;
  if (withCount) statements.push(total);
  const results = await ctx.db.batch(statements);
  const fetched = results[0]!.results as (Row & Record<string, unknown>)[];
  const more = fetched.length > params.count;
  const rows = fetched.slice(0, params.count);
  if (position?.before) rows.reverse();
  const keys = rows.map((r) => {
    const k = r[CURSOR_KEY_COLUMN] as string | number | null;
    delete r[CURSOR_KEY_COLUMN];
    return { key: k, id: r.id as string };
  });

  let totalResults: number;
  if (withCount) totalResults = (results[results.length - 1]!.results[0] as { n: number }).n;
  else if (!more) totalResults = rows.length;
  else totalResults = (await total.first<number>("n")) ?? rows.length;

  const first = keys[0];
  const last = keys[keys.length - 1];
  const forwardMore = position?.before ? rows.length > 0 : more;
  const backwardMore = position?.before ? more : position !== undefined && rows.length > 0;
  const [nextCursor, previousCursor] = await Promise.all([
    last && forwardMore ? encodeCursor(key, { ...last, before: false }, binding, now) : undefined,
    first && backwardMore ? encodeCursor(key, { ...first, before: true }, binding, now) : undefined,
  ]);
  const cursors: PageCursors = {};
  if (nextCursor !== undefined) cursors.nextCursor = nextCursor;
  if (previousCursor !== undefined) cursors.previousCursor = previousCursor;
  return { rows: rows as Row[], totalResults, related: withCompanion ? results[1]!.results : undefined, cursors };
}

/**
 * `POST /.search` at the service provider root (RFC 7644 §3.4.3): the filter runs against every
 * resource type it is valid for; results are users, then groups (each in its own sort order),
 * paged across both. A filter valid for neither type is `invalidFilter`.
 */
export async function searchAllRows<U, G>(ctx: DirectoryContext, params: ListParams): Promise<{ users: U[]; groups: G[]; totalResults: number }> {
  // A root search spans two tables, so one keyset position cannot address it; RFC 9865 lets a provider
  // refuse a pagination parameter it cannot serve (§2.1), and /Users/.search and /Groups/.search take cursors.
  if (params.cursor !== undefined) throw scimErrors.invalidValue("Cursor pagination is offered on /Users, /Groups and their /.search; use startIndex for a root /.search.");
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
