/**
 * IdP dialects of SCIM PATCH, each quirk handled here and only here (STYLE.md principle 6).
 *
 * - `normalizeOperations` validates the PatchOp envelope (RFC 7644 §3.5.2) and rewrites
 *   op-level quirks into plain RFC operations with a path.
 * - `dialectValue` fixes value-level quirks for one attribute (used by PATCH and by POST/PUT).
 * - `upsertSeed` decides when a value filter that matches nothing creates the element (Entra).
 */

import type { AttributeDef } from "../registry";
import { PATCH_OP_SCHEMA, resourceTypes, schemas as knownSchemas } from "../registry";
import type { Filter } from "../filter/ast";
import { err, ok, scimErrors, type Result } from "../errors";
import { findKey, isPlainObject } from "./json";
import type { PatchOp } from "./types";

/** Upper bound on `Operations` per request; more is refused with `tooMany` before any work is done. */
export const MAX_OPERATIONS = 1000;

/** Validate a PATCH body and turn it into path-addressed operations, in request order. */
export function normalizeOperations(resourceType: "User" | "Group", body: unknown): Result<PatchOp[]> {
  if (!isPlainObject(body)) return err(scimErrors.invalidSyntax("PATCH body must be a JSON object"));
  // RFC 7644 §3.5.2: the body MUST carry the PatchOp schema. Entra and Okta always send it,
  // so its absence means a malformed request rather than a dialect.
  const schemasKey = findKey(body, "schemas");
  const schemas = schemasKey === undefined ? undefined : body[schemasKey];
  if (!Array.isArray(schemas) || !schemas.some((s) => typeof s === "string" && s.toLowerCase() === PATCH_OP_SCHEMA.toLowerCase())) {
    return err(scimErrors.invalidSyntax(`PATCH body must have "schemas": ["${PATCH_OP_SCHEMA}"]`));
  }
  const opsKey = findKey(body, "Operations");
  const operations = opsKey === undefined ? undefined : body[opsKey];
  if (!Array.isArray(operations) || operations.length === 0) {
    return err(scimErrors.invalidSyntax('PATCH body must have a non-empty "Operations" array'));
  }
  if (operations.length > MAX_OPERATIONS) {
    return err(scimErrors.tooMany(`PATCH has ${operations.length} operations; at most ${MAX_OPERATIONS} are accepted`));
  }

  const out: PatchOp[] = [];
  for (const [index, raw] of operations.entries()) {
    const at = `Operations[${index}]`;
    if (!isPlainObject(raw)) return err(scimErrors.invalidSyntax(`${at}: must be an object`));
    const opKey = findKey(raw, "op");
    const rawOp = opKey === undefined ? undefined : raw[opKey];
    // Entra ID sends capitalised ops ("Replace", "Add", "Remove"); RFC 7644 §3.5.2 values are lower-case.
    const op = typeof rawOp === "string" ? rawOp.trim().toLowerCase() : undefined;
    if (op !== "add" && op !== "replace" && op !== "remove") {
      return err(scimErrors.invalidSyntax(`${at}: "op" must be add, replace or remove (got ${JSON.stringify(rawOp ?? null)})`));
    }
    const pathKey = findKey(raw, "path");
    const rawPath = pathKey === undefined ? undefined : raw[pathKey];
    if (rawPath !== undefined && rawPath !== null && typeof rawPath !== "string") {
      return err(scimErrors.invalidPath(`${at}: "path" must be a string`));
    }
    const path = typeof rawPath === "string" && rawPath.trim() !== "" ? rawPath.trim() : undefined;
    const valueKey = findKey(raw, "value");
    const hasValue = valueKey !== undefined && raw[valueKey] !== undefined;
    const value = valueKey === undefined ? undefined : raw[valueKey];

    if (op === "remove") {
      // RFC 7644 §3.5.2.2: remove without a path fails with noTarget.
      if (path === undefined) return err(scimErrors.noTarget(`${at}: remove requires a "path"`));
      // Entra ID removes group members with path "members" AND a value array
      // ([{"value":"<id>"}]); the value is kept so the engine removes exactly those elements.
      out.push(hasValue ? { index, op, path, value } : { index, op, path });
      continue;
    }
    if (!hasValue) return err(scimErrors.invalidValue(`${at}: ${op} requires a "value"`));
    if (path !== undefined) {
      out.push({ index, op, path, value });
      continue;
    }
    // RFC 7644 §3.5.2.1 / §3.5.2.3: without a path, the value is an object whose attributes are
    // the targets. Expanding it into one op per attribute also covers:
    // - Okta's `{"op":"replace","value":{"active":false}}` (deactivation) and
    //   `{"op":"replace","value":{"id":"<current id>","displayName":"New"}}` (group rename; the echoed
    //   `id` becomes a replace of `id` with its own value, which the engine ignores);
    // - Entra ID's dotted keys in path-less replaces (`{"name.givenName":"Ann"}`,
    //   `{"urn:…:enterprise:2.0:User:manager":"<id>"}`): each key is parsed as a path.
    if (!isPlainObject(value)) {
      return err(scimErrors.invalidValue(`${at}: ${op} without a "path" requires an object "value"`));
    }
    const extensions = resourceTypes[resourceType].schemaExtensions.map((e) => e.schema);
    for (const [key, v] of Object.entries(value)) {
      if (v === undefined) continue;
      // `schemas` is maintained by the engine from the attributes present.
      if (key.toLowerCase() === "schemas") continue;
      const ext = extensions.find((urn) => urn.toLowerCase() === key.toLowerCase());
      if (ext !== undefined && isPlainObject(v)) {
        for (const [sub, sv] of Object.entries(v)) {
          // An extension object may carry its own `schemas` (scim2-tester does): not an attribute, ignored.
          if (sv !== undefined && sub.toLowerCase() !== "schemas") out.push({ index, op, path: `${ext}:${sub}`, value: sv });
        }
      } else if (isPlainObject(v) && key.toLowerCase().startsWith("urn:") && !isKnownSchemaPath(key)) {
        // An extension we do not know (`{"urn:acme:…:User": {…}}`): kept as one object (round-trip).
        out.push({ index, op, path: key, value: v, wholeExtension: true });
      } else {
        out.push({ index, op, path: key, value: v });
      }
    }
  }
  return ok(out);
}

/** True when `path` starts with a registry schema URN followed by `:` (an attribute of a known schema). */
function isKnownSchemaPath(path: string): boolean {
  const lower = path.toLowerCase();
  return Object.keys(knownSchemas).some((urn) => lower.startsWith(urn.toLowerCase() + ":"));
}

/**
 * Value-level quirks for one attribute, applied before type checks:
 * - Entra ID sends booleans as strings (`"active": "False"`); coerced for boolean attributes only.
 * - Entra ID sends the enterprise `manager` as a bare id string (`"manager": "<id>"`, both path-less
 *   and with path `urn:…:enterprise:2.0:User:manager`); RFC 7643 §4.3 wants `{ "value": "<id>" }`.
 *   An empty string clears the manager (Entra sends it when the manager is removed in the directory).
 */
export function dialectValue(def: AttributeDef, value: unknown): unknown {
  if (def.type === "boolean" && typeof value === "string") {
    const lower = value.trim().toLowerCase();
    if (lower === "true") return true;
    if (lower === "false") return false;
    return value;
  }
  if (def.name === "manager" && def.type === "complex" && typeof value === "string") {
    return value.trim() === "" ? null : { value };
  }
  return value;
}

/**
 * Entra ID writes `emails[type eq "work"].value` (also `phoneNumbers[type eq "mobile"].value`,
 * `addresses[type eq "work"].streetAddress`) with add or replace even when no such element exists
 * yet, and expects it to be created. When the path has a sub-attribute and the filter pins the
 * element by `type` (optionally with `primary`) using `eq` only, returns the element to create;
 * otherwise undefined and the strict RFC 7644 §3.5.2.3 rule applies (no match → noTarget).
 */
export function upsertSeed(filter: Filter, hasSubAttr: boolean): Record<string, unknown> | undefined {
  if (!hasSubAttr) return undefined;
  const seed: Record<string, unknown> = {};
  const walk = (f: Filter): boolean => {
    if (f.kind === "and") return walk(f.left) && walk(f.right);
    if (f.kind !== "compare" || f.op !== "eq") return false;
    const name = f.path.toLowerCase();
    if (name === "type" && typeof f.value === "string") seed.type = f.value;
    else if (name === "primary" && typeof f.value === "boolean") seed.primary = f.value;
    else return false;
    return true;
  };
  return walk(filter) && typeof seed.type === "string" ? seed : undefined;
}
