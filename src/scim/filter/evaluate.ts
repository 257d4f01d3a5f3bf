/**
 * In-memory evaluation of a SCIM filter against a SCIM JSON resource (RFC 7644 §3.4.2.2), used by the
 * PATCH engine to select elements of multi-valued attributes (RFC 7644 §3.5.2 valuePath).
 *
 * Semantics, kept identical to the SQL compiler (compile.ts):
 * - attribute names are case-insensitive (RFC 7643 §2.1); string values compare case-insensitively unless
 *   the registry says caseExact (RFC 7643 §2.1, §7);
 * - a multi-valued attribute matches if any of its values matches (RFC 7644 §3.4.2.2);
 * - `ne` is `not eq` (an absent attribute is "not equal"), `not` is plain negation;
 * - `eq null` means "not present", `ne null` means "present";
 * - `pr` is present and non-empty (not null, not "", not [], not {});
 * - dateTime attributes compare as instants; booleans support eq/ne only;
 * - `emails eq "x"` on a complex attribute with a `value` sub-attribute means `emails.value eq "x"`.
 * Type mismatches and unsupported operator/type pairs do not match (the compiler rejects them with 400).
 */
import { resolveAttribute, resourceTypes, type AttributeDef } from "../registry";
import type { CompareOp, Filter, FilterValue } from "./ast";
import { normaliseDateTime } from "./datetime";
import { splitAttrPath, type AttrPath } from "./path";

type ResourceType = "User" | "Group";

/** Where paths are resolved: the resource itself, or one element of the attribute `parentPath`. */
interface Scope {
  resourceType: ResourceType;
  parentPath: string | undefined;
}

/** True if the SCIM resource (a JSON object) matches the filter (RFC 7644 §3.4.2.2). */
export function matchesFilter(resource: unknown, filter: Filter, resourceType: ResourceType): boolean {
  return evaluate(resource, filter, { resourceType, parentPath: undefined });
}

/**
 * True if one element (or sub-object) of the attribute `parentPath` matches a filter whose paths are
 * relative to it — e.g. an `emails` entry against `type eq "work"` (RFC 7644 §3.5.2 valuePath). The
 * parent path gives the registry lookup for case sensitivity: `members` + `value` is caseExact.
 */
export function matchesFilterWithin(element: unknown, filter: Filter, resourceType: ResourceType, parentPath: string): boolean {
  return evaluate(element, filter, { resourceType, parentPath });
}

function evaluate(base: unknown, f: Filter, scope: Scope): boolean {
  switch (f.kind) {
    case "and":
      return evaluate(base, f.left, scope) && evaluate(base, f.right, scope);
    case "or":
      return evaluate(base, f.left, scope) || evaluate(base, f.right, scope);
    case "not":
      return !evaluate(base, f.filter, scope);
    case "present":
      return lookup(base, f.path, scope).values.some(isPresent);
    case "compare":
      return compare(lookup(base, f.path, scope), f.op, f.value);
    case "valuePath": {
      if (scope.parentPath !== undefined) return false; // valuePaths do not nest (parse.ts rejects them)
      const { values } = lookup(base, f.path, scope);
      const inner: Scope = { resourceType: scope.resourceType, parentPath: f.path };
      // With `.sub` (`emails[type eq "work"].value eq "x"`) the same element must satisfy both.
      return values.some((element) => evaluate(element, f.filter, inner) && (f.sub === undefined || evaluate(element, f.sub, inner)));
    }
  }
}

interface Lookup {
  /** Candidate values, multi-valued attributes flattened (any-of semantics). */
  values: unknown[];
  def: AttributeDef | undefined;
}

function lookup(base: unknown, path: string, scope: Scope): Lookup {
  const split = splitAttrPath(path);
  if (!split) return { values: [], def: undefined };
  const fullPath = scope.parentPath === undefined ? path : `${scope.parentPath}.${path}`;
  const resolved = resolveAttribute(scope.resourceType, fullPath);
  const def = resolved ? (resolved.subAttribute ?? resolved.attribute) : undefined;
  let container: unknown = base;
  if (scope.parentPath === undefined) {
    container = containerFor(base, split, scope.resourceType);
  } else if (!isObject(base)) {
    return { values: [], def }; // an element that is not an object has no sub-attributes (as in SQL)
  }
  let values = flatten([getKey(container, split.attr)]);
  if (split.subAttr !== undefined) {
    const sub = split.subAttr;
    values = flatten(values.map((v) => getKey(v, sub)));
  }
  return { values, def };
}

/** Extension attributes live under their schema URN key (RFC 7643 §3.3); core ones at the top level. */
function containerFor(resource: unknown, split: AttrPath, resourceType: ResourceType): unknown {
  if (split.schema === undefined) return resource;
  if (split.schema.toLowerCase() === resourceTypes[resourceType].schema.toLowerCase()) return resource;
  return getKey(resource, split.schema);
}

function compare(l: Lookup, op: CompareOp, literal: FilterValue): boolean {
  if (op === "ne") return !compare(l, "eq", literal);
  if (literal === null) return op === "eq" ? !l.values.some(isPresent) : false;
  // `members eq "id"` on a complex attribute compares its `value` sub-attribute (RFC 7643 §2.4).
  const complex = l.def?.type === "complex";
  const def = complex ? l.def?.subAttributes?.find((s) => s.name === "value") : l.def;
  if (complex && def === undefined) return false;
  const caseExact = def?.caseExact ?? false;
  return l.values.some((raw) => compareOne(complex ? getKey(raw, "value") : raw, op, literal, def?.type, caseExact));
}

function compareOne(v: unknown, op: CompareOp, literal: string | number | boolean, type: string | undefined, caseExact: boolean): boolean {
  if (typeof literal === "boolean") return op === "eq" && v === literal;
  if (typeof literal === "number") {
    if (typeof v !== "number" || type === "boolean" || type === "dateTime") return false;
    return ordered(op, v, literal);
  }
  if (typeof v !== "string" || type === "boolean") return false;
  if (type === "dateTime" && op !== "co" && op !== "sw" && op !== "ew") {
    const a = normaliseDateTime(v);
    const b = normaliseDateTime(literal);
    return a !== undefined && b !== undefined && ordered(op, a, b); // same-format UTC ISO: text order = time order
  }
  const a = caseExact ? v : v.toLowerCase();
  const b = caseExact ? literal : literal.toLowerCase();
  switch (op) {
    case "co":
      return a.includes(b);
    case "sw":
      return a.startsWith(b);
    case "ew":
      return a.endsWith(b);
    default:
      return ordered(op, a, b);
  }
}

function ordered<T extends string | number>(op: CompareOp, a: T, b: T): boolean {
  switch (op) {
    case "eq":
      return a === b;
    case "ne":
      return a !== b;
    case "gt":
      return a > b;
    case "ge":
      return a >= b;
    case "lt":
      return a < b;
    case "le":
      return a <= b;
    case "co":
    case "sw":
    case "ew":
      return false;
  }
}

/** RFC 7644 §3.4.2.2 `pr`: has a non-empty value (mirrors the SQL `-> NOT IN ('null','""','[]','{}')`). */
function isPresent(v: unknown): boolean {
  if (v === undefined || v === null || v === "") return false;
  if (Array.isArray(v)) return v.length > 0;
  if (isObject(v)) return Object.keys(v).length > 0;
  return true;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Case-insensitive key lookup (RFC 7643 §2.1: attribute names are case-insensitive). */
function getKey(obj: unknown, key: string): unknown {
  if (!isObject(obj)) return undefined;
  if (Object.hasOwn(obj, key)) return obj[key];
  const lower = key.toLowerCase();
  for (const k of Object.keys(obj)) if (k.toLowerCase() === lower) return obj[k];
  return undefined;
}

function flatten(values: unknown[]): unknown[] {
  return values.flatMap((v) => (Array.isArray(v) ? (v as unknown[]) : v === undefined ? [] : [v]));
}
