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
 */
import { err, ok, scimErrors, type Result } from "../errors";
import type { CompareOp, Filter, FilterValue } from "./ast";
import { normaliseDateTime } from "./datetime";
import { splitAttrPath } from "./path";
import { resolveTarget, tableAlias, type CollectionTarget, type Param, type ResourceType, type ScalarTarget, type Sql, type Target } from "./targets";

/** D1 binds at most 100 parameters per statement; leave room for idp id, sort, limit and offset. */
export const MAX_FILTER_PARAMS = 90;

type Op = Exclude<CompareOp, "ne">;

/** Where paths are resolved: the resource, one element of a collection (`emails[…]`), or a complex attribute (`name[…]`). */
interface Scope {
  rt: ResourceType;
  collection?: CollectionTarget;
  prefix?: string;
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
export function compileFilter(filter: Filter, resourceType: ResourceType): Result<{ where: string; params: Param[] }> {
  const compiled = compileNode(filter, { rt: resourceType });
  if (!compiled.ok) return compiled;
  if (compiled.value.params.length > MAX_FILTER_PARAMS) {
    return invalid(`The filter is too complex: it needs ${compiled.value.params.length} bound values (at most ${MAX_FILTER_PARAMS})`);
  }
  return ok({ where: compiled.value.sql, params: compiled.value.params });
}

function compileNode(f: Filter, scope: Scope): Result<Sql> {
  switch (f.kind) {
    case "and":
    case "or": {
      const left = compileNode(f.left, scope);
      if (!left.ok) return left;
      const right = compileNode(f.right, scope);
      if (!right.ok) return right;
      return ok(f.kind === "and" ? q`(${left.value} AND ${right.value})` : q`(${left.value} OR ${right.value})`);
    }
    case "not": {
      const inner = compileNode(f.filter, scope);
      return inner.ok ? ok(negate(inner.value)) : inner;
    }
    case "present":
      return onTarget(f.path, scope, true, (t) => ok(scalarPresent(t)));
    case "compare":
      return compileCompare(f.path, f.op, f.value, scope);
    case "valuePath":
      return compileValuePath(f.path, f.filter, scope);
  }
}

/** Two-valued negation: an absent attribute (NULL) makes the inner condition false, so its negation true. */
function negate(s: Sql): Sql {
  return q`(NOT coalesce(${s}, 0))`;
}

/** RFC 7644 §3.4.2.2 Table 3, one case per operator. */
function compileCompare(path: string, op: CompareOp, value: FilterValue, scope: Scope): Result<Sql> {
  switch (op) {
    case "ne": {
      const eq = compileCompare(path, "eq", value, scope);
      return eq.ok ? ok(negate(eq.value)) : eq;
    }
    case "eq":
      if (value === null) {
        const present = onTarget(path, scope, true, (t) => ok(scalarPresent(t)));
        return present.ok ? ok(negate(present.value)) : present;
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
  if (scope.collection) return scope.collection.element(split.attr);
  return resolveTarget(scope.rt, `${scope.prefix}.${split.attr}`);
}

/** Applies a scalar condition to whatever the path resolves to; multi-valued attributes match if any element does. */
function onTarget(path: string, scope: Scope, forPresent: boolean, leaf: (t: ScalarTarget) => Result<Sql>): Result<Sql> {
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
      const cond = leaf(element.value);
      return cond.ok ? ok(exists(t, cond.value)) : cond;
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

/** valuePath (RFC 7644 §3.4.2.2): one element must satisfy the whole inner filter. */
function compileValuePath(path: string, inner: Filter, scope: Scope): Result<Sql> {
  if (scope.collection !== undefined || scope.prefix !== undefined) return invalid(`"${path}[…]": valuePath filters cannot be nested`);
  const resolved = resolveTarget(scope.rt, path);
  if (!resolved.ok) return resolved;
  const t = resolved.value;
  switch (t.kind) {
    case "collection": {
      if (t.sub !== undefined) return invalid(`"${path}[…]": a valuePath names an attribute, not a sub-attribute`);
      const cond = compileNode(inner, { rt: scope.rt, collection: t });
      return cond.ok ? ok(exists(t, cond.value)) : cond;
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

function scalarCompare(t: ScalarTarget, op: Op, value: string | number | boolean, path: string): Result<Sql> {
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
      return ok(stringOp(expr, op, t.caseExact ? value : value.toLowerCase(), t.caseExact));
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
function booleanEq(t: ScalarTarget, op: Op, value: string | number | boolean, path: string): Result<Sql> {
  if (t.type !== "boolean" && t.type !== "any") return invalid(`"${path}" is not a boolean`);
  if (typeof value !== "boolean") return invalid(`"${path}" is a boolean: compare it with true or false`);
  if (op !== "eq") return invalid(`"${op}" is not allowed on boolean attribute "${path}" (RFC 7644 §3.4.2.2)`);
  if (t.json) return ok(q`((${raw(t.json.doc)} -> ${t.json.path}) = ${bind(value ? "true" : "false")})`);
  return ok(q`(${t.expr} = ${bind(value ? 1 : 0)})`);
}

const SQL_CMP: Record<"eq" | "gt" | "ge" | "lt" | "le", string> = { eq: "=", gt: ">", ge: ">=", lt: "<", le: "<=" };

/** String operators on an already case-folded expression and value. */
function stringOp(expr: Sql, op: Op, value: string, caseExact: boolean): Sql {
  switch (op) {
    case "eq":
    case "gt":
    case "ge":
    case "lt":
    case "le":
      return q`(${expr} ${raw(SQL_CMP[op])} ${bind(value)})`;
    case "sw": {
      // A range, not LIKE, so an index on the column (user_name_lower, value_lower, …) is used.
      const upper = prefixUpperBound(value);
      return upper === undefined ? q`(${expr} >= ${bind(value)})` : q`(${expr} >= ${bind(value)} AND ${expr} < ${bind(upper)})`;
    }
    case "co":
      return caseExact ? q`(${expr} GLOB ${bind(`*${escapeGlob(value)}*`)})` : q`(${expr} LIKE ${bind(`%${escapeLike(value)}%`)} ESCAPE '\\')`;
    case "ew":
      return caseExact ? q`(${expr} GLOB ${bind(`*${escapeGlob(value)}`)})` : q`(${expr} LIKE ${bind(`%${escapeLike(value)}`)} ESCAPE '\\')`;
  }
}

/** LIKE wildcards `%` `_` and the escape character itself, escaped with `\` (used with ESCAPE '\'). */
export function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, "\\$&");
}

/** GLOB wildcards `*` `?` `[` as one-character classes (`[*]`), the only escape GLOB has. */
export function escapeGlob(value: string): string {
  return value.replace(/[*?[]/g, "[$&]");
}

/**
 * The least string greater than every string starting with `prefix` (code-point order, which is
 * SQLite's BINARY order for UTF-8): the last incrementable code point + 1. `undefined` if none.
 */
export function prefixUpperBound(prefix: string): string | undefined {
  const cps = Array.from(prefix, (c) => c.codePointAt(0)!);
  for (let i = cps.length - 1; i >= 0; i--) {
    const cp = cps[i]!;
    if (cp >= 0x10ffff) continue;
    const next = cp + 1 === 0xd800 ? 0xe000 : cp + 1;
    return String.fromCodePoint(...cps.slice(0, i), next);
  }
  return undefined;
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
): Result<{ orderBy: string; params: Param[] }> {
  const a = tableAlias(resourceType);
  const order = sortOrder?.trim().toLowerCase() ?? "";
  if (order !== "" && order !== "ascending" && order !== "descending") {
    return err(scimErrors.invalidValue(`Invalid sortOrder "${sortOrder}": use "ascending" or "descending"`));
  }
  const dir = order === "descending" ? "DESC" : "ASC";
  const by = sortBy?.trim() ?? "";
  if (by === "") return ok({ orderBy: `${a}.created_at ${dir}, ${a}.id ${dir}`, params: [] });
  const key = sortKey(by, resourceType);
  if (!key.ok) return err(scimErrors.invalidValue(`Invalid sortBy "${by}": ${key.error.message}`));
  const nulls = dir === "ASC" ? "NULLS LAST" : "NULLS FIRST";
  return ok({ orderBy: `${key.value.sql} ${dir} ${nulls}, ${a}.id ${dir}`, params: key.value.params });
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
