/**
 * List/query parameters for `GET /Users`, `GET /Groups` (query string) and `POST /.search`
 * (SearchRequest body), RFC 7644 §3.4.2 and §3.4.3. Pure: no Hono, no D1.
 *
 * Routes MUST hand the query string over as `URLSearchParams` (e.g. `new URL(c.req.url).searchParams`),
 * never a raw `decodeURIComponent` of the query: Microsoft Entra encodes spaces in `filter` as `+`
 * (`filter=userName+eq+%22a%40b.c%22`), which only the `application/x-www-form-urlencoded` parser
 * (what `URLSearchParams` implements) turns back into spaces. A literal `+` arrives as `%2B`.
 */

import { type Result, err, ok, scimErrors } from "./errors";
import { SEARCH_REQUEST_SCHEMA } from "./registry";

/** Normalised list parameters; `count` and `startIndex` are always resolved (RFC 7644 §3.4.2.4). */
export interface ListParams {
  filter?: string;
  /** 1-based; values below 1 are already raised to 1. */
  startIndex: number;
  /** 0..maxResults; 0 asks for `totalResults` only. */
  count: number;
  sortBy?: string;
  sortOrder: "ascending" | "descending";
  attributes?: string[];
  excludedAttributes?: string[];
  /**
   * RFC 9865 cursor pagination: present (possibly `""`, the first page) when the request named `cursor`;
   * absent for index paging (`startIndex`). The value is still opaque here (see `src/scim/cursor.ts`).
   */
  cursor?: string;
}

/** Options for {@link parseListParams}; `maxResults` is the one advertised in ServiceProviderConfig. */
export interface ListParamsOptions {
  maxResults: number;
}

const SCALARS = ["filter", "startIndex", "count", "sortBy", "sortOrder", "cursor"] as const;
const LISTS = ["attributes", "excludedAttributes"] as const;
type Scalar = (typeof SCALARS)[number];
type List = (typeof LISTS)[number];

/**
 * Parse list parameters from a query string (`URLSearchParams`) or a SearchRequest body (a plain object).
 *
 * Choices where RFC 7644 leaves room (each documented where it is made):
 * - missing `count` → `maxResults` (§3.4.2.4: "If unspecified, the maximum number of results is set by the service provider");
 * - `count` / `startIndex` that are not integers → 400 `invalidValue`; out-of-range integers are clamped, never rejected;
 * - `sortOrder` other than ascending/descending (any case) → 400 `invalidValue` (§3.4.2.3 lists the only allowed values);
 * - `attributes` together with `excludedAttributes` → 400 `invalidSyntax` (they contradict each other; the RFC gives no precedence);
 * - parameter names are matched case-insensitively (RFC 7643 §2.1 makes attribute names case-insensitive, and
 *   the SearchRequest body is a SCIM message); unknown parameters are ignored; empty values count as absent;
 * - a scalar parameter given twice (`count=1&count=2`) → 400 `invalidSyntax` rather than silently picking one;
 *   repeated `attributes` are merged;
 * - `cursor` (RFC 9865 §2) selects cursor paging even when empty (`?cursor`, `cursor=`, `"cursor": ""` ask for
 *   the first page); a value outside RFC 3986 §2.3 unreserved characters, or not a string, → 400 `invalidCursor`;
 *   `cursor` together with `startIndex` → 400 `invalidValue`: RFC 9865 §2.4 has a request pick one method, and
 *   a keyset position cannot be combined with an offset.
 */
export function parseListParams(
  query: URLSearchParams | Record<string, unknown>,
  opts: ListParamsOptions,
): Result<ListParams> {
  const grouped = group(query);
  if (!grouped.ok) return grouped;
  const raw = grouped.value;

  if (!(query instanceof URLSearchParams)) {
    const schemasOk = checkSearchRequestSchemas(raw.get("schemas"));
    if (!schemasOk.ok) return schemasOk;
  }

  const scalars: Partial<Record<Scalar, unknown>> = {};
  for (const name of SCALARS) {
    const values = raw.get(name.toLowerCase()) ?? [];
    if (values.length > 1) return err(scimErrors.invalidSyntax(`The "${name}" parameter was given more than once.`));
    scalars[name] = values[0];
  }

  const filter = readString("filter", scalars.filter);
  if (!filter.ok) return filter;
  const sortBy = readString("sortBy", scalars.sortBy);
  if (!sortBy.ok) return sortBy;
  const sortOrderRaw = readString("sortOrder", scalars.sortOrder);
  if (!sortOrderRaw.ok) return sortOrderRaw;
  const startIndex = readInt("startIndex", scalars.startIndex);
  if (!startIndex.ok) return startIndex;
  const count = readInt("count", scalars.count);
  if (!count.ok) return count;
  const cursor = readCursor(scalars.cursor);
  if (!cursor.ok) return cursor;
  if (cursor.value !== undefined && startIndex.value !== undefined) {
    return err(scimErrors.invalidValue('"cursor" and "startIndex" cannot be used together: pick cursor or index pagination (RFC 9865 §2.4).'));
  }

  // RFC 7644 §3.4.2.3: "Allowed values are "ascending" and "descending"" and the default is ascending.
  // Matched case-insensitively; anything else is a value incompatible with the parameter → invalidValue (§3.12).
  let sortOrder: ListParams["sortOrder"] = "ascending";
  if (sortOrderRaw.value !== undefined) {
    const lowered = sortOrderRaw.value.toLowerCase();
    if (lowered !== "ascending" && lowered !== "descending") {
      return err(scimErrors.invalidValue(`sortOrder must be "ascending" or "descending", got "${sortOrderRaw.value}".`));
    }
    sortOrder = lowered;
  }

  const lists: Partial<Record<List, string[]>> = {};
  for (const name of LISTS) {
    const parsed = readList(name, raw.get(name.toLowerCase()) ?? []);
    if (!parsed.ok) return parsed;
    if (parsed.value.length > 0) lists[name] = parsed.value;
  }
  // RFC 7644 §3.9 defines `attributes` as overriding the default set and `excludedAttributes` as subtracting
  // from it; combined they have no defined meaning, so we refuse rather than guess.
  if (lists.attributes && lists.excludedAttributes) {
    return err(scimErrors.invalidSyntax('"attributes" and "excludedAttributes" cannot be used together.'));
  }

  const maxResults = Math.max(0, Math.floor(opts.maxResults));
  const params: ListParams = {
    // RFC 7644 §3.4.2.4: "A value less than 1 SHALL be interpreted as 1."
    startIndex: Math.max(1, startIndex.value ?? 1),
    // RFC 7644 §3.4.2.4: "A negative value SHALL be interpreted as "0""; the provider sets the maximum
    // (advertised as filter.maxResults, RFC 7643 §5) and uses it when count is absent.
    count: Math.min(maxResults, Math.max(0, count.value ?? maxResults)),
    sortOrder,
  };
  if (filter.value !== undefined) params.filter = filter.value;
  if (sortBy.value !== undefined) params.sortBy = sortBy.value;
  if (lists.attributes) params.attributes = lists.attributes;
  if (lists.excludedAttributes) params.excludedAttributes = lists.excludedAttributes;
  if (cursor.value !== undefined) params.cursor = cursor.value;
  return ok(params);
}

/** Group values by lower-cased parameter name; query values are strings, body values anything JSON. */
function group(query: URLSearchParams | Record<string, unknown>): Result<Map<string, unknown[]>> {
  const out = new Map<string, unknown[]>();
  const add = (key: string, value: unknown) => {
    const k = key.toLowerCase();
    const list = out.get(k);
    if (list) list.push(value);
    else out.set(k, [value]);
  };
  if (query instanceof URLSearchParams) {
    for (const [key, value] of query) add(key, value);
    return ok(out);
  }
  if (typeof query !== "object" || query === null || Array.isArray(query)) {
    return err(scimErrors.invalidSyntax("The SearchRequest body must be a JSON object."));
  }
  for (const [key, value] of Object.entries(query)) add(key, value);
  return ok(out);
}

/** RFC 7644 §3.4.3: the body's `schemas` MUST carry the SearchRequest URI. */
function checkSearchRequestSchemas(values: unknown[] | undefined): Result<true> {
  const schemas = values?.length === 1 ? values[0] : undefined;
  const good =
    Array.isArray(schemas) &&
    schemas.some((s) => typeof s === "string" && s.toLowerCase() === SEARCH_REQUEST_SCHEMA.toLowerCase());
  return good ? ok(true) : err(scimErrors.invalidSyntax(`A SearchRequest body must have "schemas": ["${SEARCH_REQUEST_SCHEMA}"].`));
}

/** A string parameter; empty or JSON null counts as absent. */
function readString(name: string, value: unknown): Result<string | undefined> {
  if (value === undefined || value === null) return ok(undefined);
  if (typeof value !== "string") return err(scimErrors.invalidValue(`The "${name}" parameter must be a string.`));
  const trimmed = value.trim();
  return ok(trimmed === "" ? undefined : trimmed);
}

/** RFC 3986 §2.3 unreserved characters: the only ones RFC 9865 §2 allows in a cursor. */
const UNRESERVED = /^[A-Za-z0-9._~-]*$/;

/**
 * `cursor`: present-but-empty is meaningful (the first page, RFC 9865 §2), so unlike other scalars an empty
 * string is kept. JSON null counts as absent, like every other SearchRequest parameter.
 */
function readCursor(value: unknown): Result<string | undefined> {
  if (value === undefined || value === null) return ok(undefined);
  if (typeof value !== "string" || !UNRESERVED.test(value.trim())) {
    return err(scimErrors.invalidCursor("The cursor must be empty (first page) or a nextCursor/previousCursor value from a previous response."));
  }
  return ok(value.trim());
}

const INTEGER = /^[+-]?\d+$/;

/**
 * An integer parameter: a JSON integer or a string of digits. Huge values are clamped to the safe-integer range
 * (they are still in range for RFC 7644 §3.4.2.4 semantics: an empty page, or at most maxResults).
 */
function readInt(name: string, value: unknown): Result<number | undefined> {
  if (value === undefined || value === null) return ok(undefined);
  let n: number;
  if (typeof value === "number") {
    if (!Number.isInteger(value)) return err(notInteger(name, String(value)));
    n = value;
  } else if (typeof value === "string") {
    const trimmed = value.trim();
    if (trimmed === "") return ok(undefined);
    if (!INTEGER.test(trimmed)) return err(notInteger(name, trimmed));
    n = Number(trimmed);
  } else {
    return err(notInteger(name, JSON.stringify(value) ?? typeof value));
  }
  return ok(Math.min(Number.MAX_SAFE_INTEGER, Math.max(Number.MIN_SAFE_INTEGER, n)));
}

const notInteger = (name: string, shown: string) =>
  scimErrors.invalidValue(`The "${name}" parameter must be an integer, got ${shown.length > 40 ? shown.slice(0, 40) + "…" : shown}.`);

/**
 * `attributes` / `excludedAttributes`: comma-separated in a query string (RFC 7644 §3.9), a JSON array of
 * strings in a SearchRequest (§3.4.3; a comma-separated string is accepted too). Names are trimmed, empties dropped.
 */
function readList(name: string, values: unknown[]): Result<string[]> {
  const out: string[] = [];
  for (const value of values) {
    if (value === undefined || value === null) continue;
    const parts = typeof value === "string" ? [value] : Array.isArray(value) ? value : undefined;
    if (!parts || parts.some((p) => typeof p !== "string")) {
      return err(scimErrors.invalidValue(`The "${name}" parameter must be a list of attribute names.`));
    }
    for (const part of parts as string[]) {
      for (const piece of part.split(",")) {
        const trimmed = piece.trim();
        if (trimmed !== "") out.push(trimmed);
      }
    }
  }
  return ok(out);
}
