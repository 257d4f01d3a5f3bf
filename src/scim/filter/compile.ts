/**
 * Compiles a SCIM filter (RFC 7644 §3.4.2.2) and sort (§3.4.2.3) to parameterised SQLite for D1.
 * The caller writes `SELECT … FROM users u WHERE u.idp_id = ? AND (<where>) ORDER BY <orderBy>`
 * (`groups g` for groups) and binds its own params, then `params` of the filter, then of the sort.
 *
 * Rules: paths go through the allowlist in targets.ts; every value is a bound `?`; the SQL text is
 * built only from fixed fragments. Semantics match evaluate.ts (see its header), in particular:
 * - `ne` is `not eq` and `not` is `NOT coalesce(x, 0)`: SQL's three-valued logic would otherwise drop
 *   rows where the attribute is absent (NULL), so `not (title pr)` would never match a user without a title;
 * - caseExact=false strings compare lower-cased: the `*_lower` columns against JS-lower-cased params
 *   (index-friendly; `sw` is a range `col >= ? AND col < ?`), other expressions through SQLite
 *   `lower()`/LIKE, which fold ASCII only;
 * - caseExact strings use `=`, ranges and GLOB (LIKE is case-insensitive in SQLite); LIKE/GLOB
 *   wildcards in values are escaped, so `co "%"` matches only a literal '%'.
 * Multi-valued attributes match if any element does: `EXISTS (SELECT 1 FROM <child> WHERE <parent link> AND …)`,
 * or, for `emails` conditions that an index can answer, `u.id IN (SELECT ue.user_id FROM user_emails ue
 * WHERE ue.idp_id = ? AND …)`, with co/ew narrowed by an FTS5 trigram index (see matchElements).
 */
import { err, ok, scimErrors, type Result } from "../errors";
import type { CompareOp, Filter, FilterValue } from "./ast";
import { normaliseDateTime } from "./datetime";
import { splitAttrPath } from "./path";
import { escapeGlob, escapeLike, prefixUpperBound, trigramPhrase } from "./patterns";
import { resolveTarget, tableAlias, type CollectionTarget, type Param, type ResourceType, type ScalarTarget, type Sql, type Target } from "./targets";

/** D1 binds at most 100 parameters per statement; leave room for idp id, sort, limit and offset. */
export const MAX_FILTER_PARAMS = 90;

type Op = Exclude<CompareOp, "ne">;

/** Where paths are resolved: the resource, one element of a collection (`emails[…]`), or a complex attribute (`name[…]`). */
interface Scope {
  rt: ResourceType;
  collection?: CollectionTarget;
  prefix?: string;
  /** The caller's connection id: bound inside semi-joins (matchElements). */
  idpId?: string;
  /** Inside a semi-join: co/ew may narrow through the element's trigram index. */
  trigram?: boolean;
}

/** A compiled condition and, inside a collection, what it lets matchElements do. */
interface Cond extends Sql {
  /** Every element it matches is found by an index search: "index" — the (idp, value) B-tree (eq, sw); "trigram" — FTS5 (co/ew, ≥ 3 characters). */
  seek?: "index" | "trigram";
  /** Reads the parent row, so a semi-join subquery would be re-run per row. */
  correlated?: boolean;
}

/** Options of compileFilter. */
export interface CompileOptions {
  /**
   * The connection the caller restricts to (`u.idp_id = ?`). `emails` eq/sw need it to search the
   * (idp_id, value_lower) index; without it they compile to a correlated EXISTS (exact, but a probe per user).
   */
  idpId?: string;
}

/** Joins fixed SQL text and fragments; every interpolation is an `Sql` (values only via `bind`). */
function q(strings: TemplateStringsArray, ...parts: Sql[]): Sql {
  let sql = strings[0] ?? "";
  const params: Param[] = [];
  parts.forEach((p, i) => {
    sql += p.sql + (strings[i + 1] ?? "");
    params.push(...p.params);
  });
  return { sql, params };
}
const bind = (value: Param): Sql => ({ sql: "?", params: [value] });
/** Fixed SQL text from this module or targets.ts — never request data. */
const raw = (sql: string): Sql => ({ sql, params: [] });
const invalid = (detail: string) => err(scimErrors.invalidFilter(detail));

/** Compiles a parsed filter to a WHERE fragment with anonymous `?` placeholders, in the order of `params`. */
export function compileFilter(filter: Filter, resourceType: ResourceType, options: CompileOptions = {}): Result<{ where: string; params: Param[] }> {
  const compiled = compileNode(filter, { rt: resourceType, idpId: options.idpId });
  if (!compiled.ok) return compiled;
  if (compiled.value.params.length > MAX_FILTER_PARAMS) {
    return invalid(`The filter is too complex: it needs ${compiled.value.params.length} bound values (at most ${MAX_FILTER_PARAMS})`);
  }
  return ok({ where: compiled.value.sql, params: compiled.value.params });
}

function compileNode(f: Filter, scope: Scope): Result<Cond> {
  switch (f.kind) {
    case "and":
    case "or": {
      const left = compileNode(f.left, scope);
      if (!left.ok) return left;
      const right = compileNode(f.right, scope);
      if (!right.ok) return right;
      const [l, r] = [left.value, right.value];
      const correlated = l.correlated === true || r.correlated === true;
      // `and` seeks if either side does (the B-tree preferred); `or` only if both do.
      if (f.kind === "and") return ok({ ...q`(${l} AND ${r})`, seek: l.seek === "index" || r.seek === "index" ? "index" : (l.seek ?? r.seek), correlated });
      const seek = l.seek && r.seek ? (l.seek === r.seek ? l.seek : "index") : undefined;
      return ok({ ...q`(${l} OR ${r})`, seek, correlated });
    }
    case "not": {
      const inner = compileNode(f.filter, scope);
      return inner.ok ? ok({ ...negate(inner.value), correlated: inner.value.correlated }) : inner;
    }
    case "present":
      return onTarget(f.path, scope, true, (t) => ok({ ...scalarPresent(t), correlated: t.correlated }));
    case "compare":
      return compileCompare(f.path, f.op, f.value, scope);
    case "valuePath":
      // `emails[type eq "work"].value eq "x"`: one element satisfies both, i.e. `emails[type eq "work" and value eq "x"]`.
      return compileValuePath(f.path, f.sub ? { kind: "and", left: f.filter, right: f.sub } : f.filter, scope);
  }
}

/** Two-valued negation: an absent attribute (NULL) makes the inner condition false, so its negation true. */
function negate(s: Sql): Sql {
  return q`(NOT coalesce(${s}, 0))`;
}

/** RFC 7644 §3.4.2.2 Table 3, one case per operator. */
function compileCompare(path: string, op: CompareOp, value: FilterValue, scope: Scope): Result<Cond> {
  switch (op) {
    case "ne": {
      const eq = compileCompare(path, "eq", value, scope);
      return eq.ok ? ok({ ...negate(eq.value), correlated: eq.value.correlated }) : eq;
    }
    case "eq":
      if (value === null) {
        const present = compileNode({ kind: "present", path }, scope);
        return present.ok ? ok({ ...negate(present.value), correlated: present.value.correlated }) : present;
      }
      return onTarget(path, scope, false, (t) => scalarCompare(t, op, value, path));
    case "co":
    case "sw":
    case "ew":
    case "gt":
    case "ge":
    case "lt":
    case "le":
      if (value === null) return invalid(`"${path} ${op} null": null can only be compared with eq or ne`);
      return onTarget(path, scope, false, (t) => scalarCompare(t, op, value, path));
  }
}

function resolveIn(path: string, scope: Scope): Result<Target> {
  if (scope.collection === undefined && scope.prefix === undefined) return resolveTarget(scope.rt, path);
  const split = splitAttrPath(path);
  if (!split || split.schema !== undefined || split.subAttr !== undefined) {
    return invalid(`Inside "[…]" paths are sub-attribute names, got "${path}"`);
  }
  if (scope.collection) {
    const element = scope.collection.element(split.attr);
    return element.ok && !scope.trigram ? ok(withoutTrigram(element.value)) : element;
  }
  return resolveTarget(scope.rt, `${scope.prefix}.${split.attr}`);
}

function withoutTrigram(t: ScalarTarget): ScalarTarget {
  if (t.trigram === undefined) return t;
  const { trigram: _, ...rest } = t;
  return rest;
}

/** Applies a scalar condition to whatever the path resolves to; multi-valued attributes match if any element does. */
function onTarget(path: string, scope: Scope, forPresent: boolean, leaf: (t: ScalarTarget) => Result<Cond>): Result<Cond> {
  const resolved = resolveIn(path, scope);
  if (!resolved.ok) return resolved;
  const t = resolved.value;
  switch (t.kind) {
    case "scalar":
      return leaf(t);
    case "collection": {
      // `emails eq "x"` means `emails.value eq "x"`; `emails pr` means "has an element".
      const sub = t.sub ?? (forPresent ? undefined : "value");
      if (sub === undefined) return ok(exists(t));
      const element = t.element(sub);
      if (!element.ok) return element;
      return matchElements(t, scope, (trigram) => leaf(trigram ? element.value : withoutTrigram(element.value)));
    }
    case "complex": {
      if (forPresent) return ok(jsonPresent(t.json.doc, t.json.path));
      if (!t.hasValue) return invalid(`"${path}" is a complex attribute: compare one of its sub-attributes`);
      const value = resolveTarget(scope.rt, `${t.path}.value`);
      if (!value.ok) return value;
      return value.value.kind === "scalar" ? leaf(value.value) : invalid(`"${path}" cannot be compared`);
    }
  }
}

function exists(t: CollectionTarget, cond?: Sql): Sql {
  const from: Sql = { sql: t.from, params: t.params };
  return cond === undefined
    ? q`EXISTS (SELECT 1 FROM ${from} WHERE ${raw(t.where)})`
    : q`EXISTS (SELECT 1 FROM ${from} WHERE ${raw(t.where)} AND ${cond})`;
}

/**
 * "Some element matches `cond`". A correlated EXISTS makes SQLite walk the users in ORDER BY order and probe
 * the child table per user (100,000 users: ~100 ms to find one). When the collection has a semi-join and the
 * condition seeks an index without reading the parent row, `u.id IN (SELECT ue.user_id FROM user_emails ue
 * WHERE …)` is evaluated once, through that index, instead:
 * - "index" needs the connection id, the first column of user_emails_idp_value: `ue.idp_id = ? AND …`;
 * - "trigram" does not (the trigram index spans connections), but narrows with it when known: `+ue.idp_id = ?`,
 *   the `+` keeping it off the B-tree, which SQLite would otherwise prefer without ANALYZE statistics
 *   (EXPLAIN QUERY PLAN on D1). Without the id the semi-join is still exact: user ids are global keys and
 *   the caller keeps to `u.idp_id = ?`, as with EXISTS, which never looked at ue.idp_id either.
 * `cond` is compiled per form: only the semi-join uses the trigram index (in an EXISTS it would be one more
 * MATCH for nothing). Both forms are two-valued (user_id is NOT NULL), so `not` and `ne` keep their meaning.
 */
function matchElements(t: CollectionTarget, scope: Scope, cond: (trigram: boolean) => Result<Cond>): Result<Cond> {
  const semi = t.semiJoin;
  if (semi !== undefined) {
    const c = cond(true);
    if (!c.ok) return c;
    const { seek, correlated } = c.value;
    const select = q`${raw(semi.outer)} IN (SELECT ${raw(semi.key)} FROM ${raw(t.from)} WHERE`;
    if (!correlated && scope.idpId !== undefined && seek !== undefined) {
      return ok(q`${select} ${raw(seek === "trigram" ? `+${semi.idp}` : semi.idp)} = ${bind(scope.idpId)} AND ${c.value})`);
    }
    if (!correlated && seek === "trigram") return ok(q`${select} ${c.value})`);
  }
  const c = cond(false);
  return c.ok ? ok(exists(t, c.value)) : c;
}

/** valuePath (RFC 7644 §3.4.2.2): one element must satisfy the whole inner filter. */
function compileValuePath(path: string, inner: Filter, scope: Scope): Result<Cond> {
  if (scope.collection !== undefined || scope.prefix !== undefined) return invalid(`"${path}[…]": valuePath filters cannot be nested`);
  const resolved = resolveTarget(scope.rt, path);
  if (!resolved.ok) return resolved;
  const t = resolved.value;
  switch (t.kind) {
    case "collection": {
      if (t.sub !== undefined) return invalid(`"${path}[…]": a valuePath names an attribute, not a sub-attribute`);
      return matchElements(t, scope, (trigram) => compileNode(inner, { rt: scope.rt, collection: t, trigram }));
    }
    case "complex":
      return compileNode(inner, { rt: scope.rt, prefix: t.path });
    case "scalar":
      return invalid(`"${path}[…]": only complex attributes have a value filter`);
  }
}

/** RFC 7644 §3.4.2.2 `pr`: present and not empty. */
function scalarPresent(t: ScalarTarget): Sql {
  if (t.json) return jsonPresent(t.json.doc, t.json.path);
  if (t.type === "boolean") return q`(${t.expr} IS NOT NULL)`;
  return q`(${t.expr} <> '')`;
}

/** `->` yields the JSON text of the value (NULL when missing), so empty strings, arrays and objects are "not present". */
function jsonPresent(doc: string, path: Sql): Sql {
  return q`((${raw(doc)} -> ${path}) NOT IN ('null', '""', '[]', '{}'))`;
}

function scalarCompare(t: ScalarTarget, op: Op, value: string | number | boolean, path: string): Result<Cond> {
  const compared = compareValue(t, op, value, path);
  return compared.ok && t.correlated ? ok({ ...compared.value, correlated: true }) : compared;
}

function compareValue(t: ScalarTarget, op: Op, value: string | number | boolean, path: string): Result<Cond> {
  if (typeof value === "boolean" || t.type === "boolean") return booleanEq(t, op, value, path);
  switch (t.type) {
    case "dateTime": {
      if (typeof value !== "string") return invalid(`"${path}" is a dateTime: compare it with a quoted date`);
      if (op === "co" || op === "sw" || op === "ew") {
        // Substring operators compare the stored text (RFC 7644 §3.4.2.2 defines them on strings).
        const expr = t.caseExact ? t.expr : q`lower(${t.expr})`;
        return ok(stringOp(expr, op, t.caseExact ? value : value.toLowerCase(), t.caseExact));
      }
      const instant = normaliseDateTime(value);
      if (instant === undefined) return invalid(`"${value}" is not a valid dateTime (RFC 7643 §2.3.5)`);
      return ok(q`(${t.expr} ${raw(SQL_CMP[op])} ${bind(instant)})`);
    }
    case "string": {
      if (typeof value !== "string") return invalid(`"${path}" is a string: quote the value`);
      const expr = t.caseExact || t.lowered ? t.expr : q`lower(${t.expr})`;
      return ok(stringOp(expr, op, t.caseExact ? value : value.toLowerCase(), t.caseExact, t));
    }
    case "any": {
      // An unknown-extension attribute: typed by the literal, and only values of that JSON type match.
      const doc = raw(t.json?.doc ?? "NULL");
      const jp = t.json?.path ?? bind(null);
      if (typeof value === "number") {
        if (op === "co" || op === "sw" || op === "ew") return invalid(`"${op}" needs a string value`);
        const num = q`(CASE WHEN json_type(${doc}, ${jp}) IN ('integer', 'real') THEN json_extract(${doc}, ${jp}) END)`;
        return ok(q`(${num} ${raw(SQL_CMP[op])} ${bind(value)})`);
      }
      const text = q`(CASE WHEN json_type(${doc}, ${jp}) = 'text' THEN lower(json_extract(${doc}, ${jp})) END)`;
      return ok(stringOp(text, op, value.toLowerCase(), false));
    }
  }
}

/** Booleans support eq (and ne, via not): RFC 7644 §3.4.2.2 makes gt/ge/lt/le on booleans a 400. */
function booleanEq(t: ScalarTarget, op: Op, value: string | number | boolean, path: string): Result<Cond> {
  if (t.type !== "boolean" && t.type !== "any") return invalid(`"${path}" is not a boolean`);
  if (typeof value !== "boolean") return invalid(`"${path}" is a boolean: compare it with true or false`);
  if (op !== "eq") return invalid(`"${op}" is not allowed on boolean attribute "${path}" (RFC 7644 §3.4.2.2)`);
  if (t.json) return ok(q`((${raw(t.json.doc)} -> ${t.json.path}) = ${bind(value ? "true" : "false")})`);
  return ok(q`(${t.expr} = ${bind(value ? 1 : 0)})`);
}

const SQL_CMP: Record<"eq" | "gt" | "ge" | "lt" | "le", string> = { eq: "=", gt: ">", ge: ">=", lt: "<", le: "<=" };

/**
 * String operators on an already case-folded expression and value. `index` says which indexes the
 * expression has (an element of a semi-join collection, see matchElements): it sets `seek`, and with
 * a trigram index co/ew of ≥ 3 characters are narrowed by it before the exact LIKE.
 */
function stringOp(expr: Sql, op: Op, value: string, caseExact: boolean, index: Pick<ScalarTarget, "indexed" | "trigram"> = {}): Cond {
  const seek = index.indexed ? ("index" as const) : undefined;
  switch (op) {
    case "eq":
      return { ...q`(${expr} = ${bind(value)})`, seek };
    case "gt":
    case "ge":
    case "lt":
    case "le":
      return q`(${expr} ${raw(SQL_CMP[op])} ${bind(value)})`;
    case "sw": {
      // A range, not LIKE, so an index on the column (user_name_lower, value_lower, …) is used.
      const upper = prefixUpperBound(value);
      return { ...(upper === undefined ? q`(${expr} >= ${bind(value)})` : q`(${expr} >= ${bind(value)} AND ${expr} < ${bind(upper)})`), seek };
    }
    case "co":
    case "ew": {
      if (caseExact) return q`(${expr} GLOB ${bind(`*${escapeGlob(value)}${op === "co" ? "*" : ""}`)})`;
      const like = q`(${expr} LIKE ${bind(`%${escapeLike(value)}${op === "co" ? "%" : ""}`)} ESCAPE '\\')`;
      // Only `co` takes the trigram path: `ew` is mostly a domain search (`ew "@example.com"`) that matches
      // most users, where the per-user EXISTS finds a page at once and the trigram semi-join must build it all.
      const phrase = index.trigram && op === "co" ? trigramPhrase(value) : undefined;
      // No seek without the trigram index: a scan of the connection's (idp, value) entries costs as much as
      // the per-user EXISTS probes, which stop early when the needle is common (short needles usually are).
      if (index.trigram === undefined || phrase === undefined) return like;
      // The MATCH finds the rows whose value holds the needle's trigrams in sequence: every row the LIKE
      // matches, and possibly more (FTS5 folds case its own way); the LIKE keeps the semantics exact.
      const fts = raw(index.trigram.table);
      return { ...q`(${raw(index.trigram.rowid)} IN (SELECT rowid FROM ${fts} WHERE ${fts} MATCH ${bind(phrase)}) AND ${like})`, seek: "trigram" };
    }
  }
}

/**
 * Compiles sortBy/sortOrder (RFC 7644 §3.4.2.3) to an ORDER BY list (without the keyword), always ending
 * with the id so that paging is stable. Missing values sort last ascending and first descending;
 * caseExact=false strings sort case-insensitively; a multi-valued attribute sorts by its primary (else
 * first) value. No sortBy: `created_at, id`. An unknown sortBy or a sortOrder other than
 * "ascending"/"descending" (case-insensitive) is a 400 `invalidValue`: RFC 7644 names no scimType for
 * it, and invalidValue ("not compatible with the operation") fits a bad query parameter best.
 */
export function compileSort(
  sortBy: string | undefined,
  sortOrder: string | undefined,
  resourceType: ResourceType,
): Result<SortSql> {
  const a = tableAlias(resourceType);
  const order = sortOrder?.trim().toLowerCase() ?? "";
  if (order !== "" && order !== "ascending" && order !== "descending") {
    return err(scimErrors.invalidValue(`Invalid sortOrder "${sortOrder}": use "ascending" or "descending"`));
  }
  const dir = order === "descending" ? "DESC" : "ASC";
  const by = sortBy?.trim() ?? "";
  const descending = dir === "DESC";
  // created_at is NOT NULL, so the default order needs no NULLS clause (which keeps the (idp, created_at, id) index usable).
  if (by === "") return ok({ orderBy: `${a}.created_at ${dir}, ${a}.id ${dir}`, params: [], key: { sql: `${a}.created_at`, params: [] }, descending, nullable: false });
  const key = sortKey(by, resourceType);
  if (!key.ok) return err(scimErrors.invalidValue(`Invalid sortBy "${by}": ${key.error.message}`));
  const nulls = dir === "ASC" ? "NULLS LAST" : "NULLS FIRST";
  return ok({ orderBy: `${key.value.sql} ${dir} ${nulls}, ${a}.id ${dir}`, params: key.value.params, key: key.value, descending, nullable: true });
}

/** A compiled sort: the ORDER BY list and, for keyset (cursor) paging, its key expression and direction; the id breaks ties. */
export interface SortSql {
  orderBy: string;
  params: Param[];
  /** The sort key expression (the ORDER BY's first term without direction), e.g. `u.created_at`. */
  key: Sql;
  descending: boolean;
  /** The key may be NULL (sorted last ascending, first descending). */
  nullable: boolean;
}

function sortKey(path: string, rt: ResourceType): Result<Sql> {
  const resolved = resolveTarget(rt, path);
  if (!resolved.ok) return resolved;
  const t = resolved.value;
  switch (t.kind) {
    case "scalar":
      return ok(sortExpr(t));
    case "complex": {
      if (!t.hasValue) return invalid("sort by one of its sub-attributes");
      const value = resolveTarget(rt, `${t.path}.value`);
      if (!value.ok) return value;
      return value.value.kind === "scalar" ? ok(sortExpr(value.value)) : invalid("not sortable");
    }
    case "collection": {
      const element = t.element(t.sub ?? "value");
      if (!element.ok) return element;
      const from: Sql = { sql: t.from, params: t.params };
      return ok(q`(SELECT ${sortExpr(element.value)} FROM ${from} WHERE ${raw(t.where)} ORDER BY ${raw(t.firstOrder)} LIMIT 1)`);
    }
  }
}

function sortExpr(t: ScalarTarget): Sql {
  return t.type === "string" && !t.caseExact && !t.lowered ? q`lower(${t.expr})` : t.expr;
}
