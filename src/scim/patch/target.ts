/**
 * Resolution of a PATCH `path` (RFC 7644 §3.5.2: `PATH = attrPath / valuePath [subAttr]`) against
 * the attribute registry, including URN-prefixed paths (RFC 7644 §3.10).
 */

import { err, ok, ScimError, scimErrors, type Result } from "../errors";
import type { Filter } from "../filter/ast";
import { parseValuePathExpression } from "../filter/parse";
import { splitAttrPath } from "../filter/path";
import type { AttributeDef } from "../registry";
import { resolveAttribute, resourceTypes, schemas as knownSchemas } from "../registry";
import { findKey, type ScimObject } from "./json";
import type { PatchOp } from "./types";

/** Where an operation points. */
export type Target =
  /** A registry attribute; `ext` is its extension URN when not in the core schema. */
  | { kind: "attr"; ext?: string; def: AttributeDef; filter?: Filter; sub?: AttributeDef }
  /** A whole known extension object (`"urn:…:enterprise:2.0:User": {…}`). */
  | { kind: "extension"; urn: string }
  /** An extension we do not know, kept as-is: `names` is [] for the whole object, else attr[.sub]. */
  | { kind: "unknown"; key: string; names: string[] };

/** Resolve `op.path` for `resourceType`; errors name the operation's index. */
export function resolveTarget(resourceType: "User" | "Group", op: PatchOp, resource: ScimObject): Result<Target> {
  const at = `Operations[${op.index}]: `;
  const rt = resourceTypes[resourceType];
  const lower = op.path.toLowerCase();
  if (op.wholeExtension) return ok({ kind: "unknown", key: findKey(resource, op.path) ?? op.path, names: [] });
  const ext = rt.schemaExtensions.find((e) => e.schema.toLowerCase() === lower);
  if (ext) return ok({ kind: "extension", urn: ext.schema });

  let attrPath = op.path;
  let filter: Filter | undefined;
  let subName: string | undefined;
  if (op.path.includes("[")) {
    // valuePath: `emails[type eq "work"].value`, `members[value eq "<id>"]`.
    const parsed = parseValuePathExpression(op.path);
    // Keep the parser's scimType (invalidFilter inside the brackets, invalidPath outside).
    if (!parsed.ok) return err(new ScimError(parsed.error.status, `${at}${parsed.error.message}`, parsed.error.scimType));
    attrPath = parsed.value.path;
    filter = parsed.value.filter;
    subName = parsed.value.subAttr;
  }

  const resolved = resolveAttribute(resourceType, attrPath);
  if (resolved) {
    const extUrn = resolved.schema === rt.schema ? undefined : resolved.schema;
    let sub = resolved.subAttribute;
    if (subName !== undefined) {
      if (sub !== undefined) return err(scimErrors.invalidPath(`${at}invalid path "${op.path}"`));
      sub = resolved.attribute.subAttributes?.find((s) => s.name.toLowerCase() === subName!.toLowerCase());
      if (!sub) return err(scimErrors.invalidPath(`${at}unknown sub-attribute "${subName}" in path "${op.path}"`));
    }
    if (filter !== undefined && !(resolved.attribute.multiValued && resolved.attribute.type === "complex")) {
      return err(scimErrors.invalidPath(`${at}a value filter needs a multi-valued attribute ("${op.path}")`));
    }
    return ok({
      kind: "attr",
      ...(extUrn !== undefined ? { ext: extUrn } : {}),
      def: resolved.attribute,
      ...(filter !== undefined ? { filter } : {}),
      ...(sub !== undefined ? { sub } : {}),
    });
  }

  // Not in the registry. URN-prefixed paths of extensions we do not know are kept as-is (round-trip);
  // anything else — including unknown attributes of known schemas — is an invalid path.
  const knownPrefix = Object.keys(knownSchemas).some((u) => lower === u.toLowerCase() || lower.startsWith(u.toLowerCase() + ":"));
  if (!lower.startsWith("urn:") || knownPrefix || filter !== undefined) {
    return err(scimErrors.invalidPath(`${at}unknown attribute path "${op.path}"`));
  }
  const existingWhole = findKey(resource, op.path);
  const split = splitAttrPath(op.path);
  // `urn:acme:…:1.0:User` names a whole extension when the resource has it, or when its last segment
  // looks like a schema name (capitalised, like `User`) rather than an attribute (camelCase).
  if (existingWhole !== undefined || (split && split.subAttr === undefined && /^[A-Z]/.test(split.attr))) {
    return ok({ kind: "unknown", key: existingWhole ?? op.path, names: [] });
  }
  if (!split || split.schema === undefined) return err(scimErrors.invalidPath(`${at}invalid path "${op.path}"`));
  const names = split.subAttr === undefined ? [split.attr] : [split.attr, split.subAttr];
  return ok({ kind: "unknown", key: findKey(resource, split.schema) ?? split.schema, names });
}
