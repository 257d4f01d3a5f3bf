/**
 * Attribute paths (RFC 7644 §3.10, §3.4.2.2 Figure 1):
 *   attrPath = [URI ":"] ATTRNAME *1subAttr ; subAttr = "." ATTRNAME
 * Shared by the filter parser, the evaluator, the SQL compiler and the PATCH engine.
 */

/** A split attribute path: optional schema URN (as written), attribute name, optional sub-attribute. */
export interface AttrPath {
  schema?: string;
  attr: string;
  subAttr?: string;
}

/**
 * ATTRNAME = ALPHA *(nameChar), nameChar = "-" / "_" / DIGIT / ALPHA. We also accept a leading
 * `$` because RFC 7643 itself defines `$ref` sub-attributes (e.g. `members.$ref`).
 */
const ATTR_NAME = /^[A-Za-z$][A-Za-z0-9_$-]*$/;

/** A URI scheme followed by something (`urn:…`); schema URNs contain ':' and '.' (`…:2.0:User`). */
const SCHEMA_URI = /^[A-Za-z][A-Za-z0-9.-]*:[A-Za-z0-9._:$-]*[A-Za-z0-9_$]$/;

/** Characters an attrPath token may contain; the scanner stops at anything else (space, `[`, `)`, …). */
export const PATH_CHAR = /[A-Za-z0-9._:$-]/;

/** True if `name` is a valid ATTRNAME (no schema, no dot). */
export function isAttrName(name: string): boolean {
  return ATTR_NAME.test(name);
}

/**
 * Splits and validates an attrPath. The schema is everything before the last ':' — schema URNs
 * contain dots (`2.0`), attribute names never contain ':' (RFC 7644 §3.10).
 */
export function splitAttrPath(path: string): AttrPath | undefined {
  const colon = path.lastIndexOf(":");
  const schema = colon >= 0 ? path.slice(0, colon) : undefined;
  if (schema !== undefined && !SCHEMA_URI.test(schema)) return undefined;
  const rest = colon >= 0 ? path.slice(colon + 1) : path;
  const parts = rest.split(".");
  if (parts.length > 2) return undefined;
  const [attr, subAttr] = parts;
  if (attr === undefined || !isAttrName(attr)) return undefined;
  if (subAttr !== undefined && !isAttrName(subAttr)) return undefined;
  return { ...(schema !== undefined ? { schema } : {}), attr, ...(subAttr !== undefined ? { subAttr } : {}) };
}
