// Cloudflare-style paging of the admin API's list endpoints: `?page=` (1-based) and `?per_page=`
// in, `result_info: {page, per_page, count, total_count, total_pages}` out (Cloudflare's v4 shape).
// The page is read with LIMIT/OFFSET and counted in the same D1 batch, so the answer's rows and
// total come from one consistent snapshot; no list answer holds more than `per_page` rows.
import { z } from "zod";
import { apiErrors } from "./api-error";

/** Default rows per page (Cloudflare's lists default to 20–50; 50 matches the directory lists). */
export const DEFAULT_PER_PAGE = 50;
/** Largest page Cloudflare's list endpoints accept. */
export const MAX_PER_PAGE = 1000;
/** Deepest page number accepted (keeps OFFSET a small integer; 10,000 rules at per_page=1 fit). */
export const MAX_PAGE = 1_000_000;

/** `page` and `per_page` of a list endpoint (also its OpenAPI query parameters). */
export const listPageSchema = z.object({
  page: z.coerce.number().int().min(1).max(MAX_PAGE).default(1).describe("1-based page number"),
  per_page: z.coerce.number().int().min(1).max(MAX_PER_PAGE).default(DEFAULT_PER_PAGE).describe(`rows per page (default ${DEFAULT_PER_PAGE}, at most ${MAX_PER_PAGE})`),
});
export type ListPage = z.output<typeof listPageSchema>;

/** The first page at the default size. */
export const FIRST_PAGE: ListPage = { page: 1, per_page: DEFAULT_PER_PAGE };

/** What a paged list answers (`envelope(result, { result_info })`). */
export interface ResultInfo {
  page: number;
  per_page: number;
  count: number;
  total_count: number;
  total_pages: number;
}
export interface Paged<T> {
  result: T[];
  result_info: ResultInfo;
}

/** `page`/`per_page` of a request's query string (empty values are absent); 400 in the API error envelope when out of range. */
export function parseListPage(query: URL | URLSearchParams): ListPage {
  const params = query instanceof URL ? query.searchParams : query;
  const raw: Record<string, string> = {};
  for (const key of ["page", "per_page"] as const) {
    const v = params.get(key);
    if (v !== null && v.trim() !== "") raw[key] = v.trim();
  }
  const parsed = listPageSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw apiErrors.invalid(`${issue?.path.join(".") || "query"}: ${issue?.message ?? "invalid"}`);
  }
  return parsed.data;
}

/** Cloudflare's `result_info` for `count` rows of `total` on page `p`. */
export function resultInfo(p: ListPage, count: number, total: number): ResultInfo {
  return { page: p.page, per_page: p.per_page, count, total_count: total, total_pages: Math.ceil(total / p.per_page) };
}

/**
 * One page of `SELECT … FROM … WHERE … ORDER BY …` (no LIMIT: it is appended) and its total from
 * `countSql` (`SELECT count(*) AS n …`, same parameters), read in one batch.
 */
export async function pagedRows<R>(db: D1Database, selectSql: string, countSql: string, params: unknown[], p: ListPage): Promise<{ rows: R[]; total: number; info: ResultInfo }> {
  const [rows, count] = await db.batch([
    db.prepare(`${selectSql} LIMIT ? OFFSET ?`).bind(...params, p.per_page, (p.page - 1) * p.per_page),
    db.prepare(countSql).bind(...params),
  ]);
  const list = (rows?.results ?? []) as R[];
  const total = (count?.results[0] as { n: number } | undefined)?.n ?? 0;
  return { rows: list, total, info: resultInfo(p, list.length, total) };
}

/** `page`/`per_page` of a dashboard URL: out-of-range values (a hand-edited link) fall back to the default instead of an error page. */
export function listPageOrDefault(query: URL | URLSearchParams): ListPage {
  try {
    return parseListPage(query);
  } catch {
    return FIRST_PAGE;
  }
}
