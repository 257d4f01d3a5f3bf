/**
 * Resource normalisation for POST and PUT (RFC 7644 §3.3, §3.5.1) and the per-attribute value
 * checks the PATCH engine shares. Driven by the attribute registry; pure (no Hono, D1, Durable Objects).
 *
 * Decisions (lenient like real service providers, strict where it matters):
 * - attribute names match case-insensitively and are rewritten to the registry's case (RFC 7643 §2.1);
 * - unknown core attributes and unknown sub-attributes are dropped, not refused (Okta sends extras);
 * - extension objects under URNs we do not know are kept as-is (round-trip), within a size limit;
 * - readOnly attributes sent by the client (`id`, `meta`, `groups`, `manager.displayName`) are
 *   ignored (RFC 7643 §2.2); `password` (writeOnly) is type-checked and dropped: never stored;
 * - `null` means unassigned (RFC 7643 §2.5); a Group's `members` come back separately (id and client `display`).
 */

import { err, ok, scimErrors, type Result } from "./errors";
import type { AttributeDef } from "./registry";
import { commonAttributeDefs, resourceTypes, schemas as knownSchemas } from "./registry";
import { dialectValue } from "./patch/dialects";
import { boundedJsonSize, cloneJson, deepEqual, findKey, isPlainObject, type ScimObject } from "./patch/json";
import { memberValues } from "./patch/members";
import type { MemberValue } from "./patch/types";

export type { ScimObject } from "./patch/json";

/** Size limits per value and per resource (a resource is one D1 row; keep it small). */
export const LIMITS = {
  maxString: 8192,
  maxMultiValued: 1000,
  maxResourceBytes: 128 * 1024,
  maxDepth: 16,
} as const;

/** A normalised resource; for Groups, `members` holds the members (id and client `display`) when the body had `members`. */
export interface NormalizedResource {
  resource: ScimObject;
  /** Undefined when the body did not mention `members` (caller keeps the current ones). */
  members?: MemberValue[];
}

/** The core attribute definitions (common + core schema) of a resource type. */
export function coreAttributeDefs(resourceType: "User" | "Group"): AttributeDef[] {
  return [...commonAttributeDefs, ...knownSchemas[resourceTypes[resourceType].schema]!.attributes];
}

/** The definition named `name` (case-insensitive, RFC 7643 §2.1), if any. */
export function findAttributeDef(defs: readonly AttributeDef[] | undefined, name: string): AttributeDef | undefined {
  const lower = name.toLowerCase();
  return defs?.find((d) => d.name.toLowerCase() === lower);
}

/**
 * Check and coerce one value of `def` (one element when `def` is multi-valued): `undefined` in the
 * result means unassigned. `at` prefixes error details (e.g. `Operations[2]: `), `path` names the attribute.
 */
export function coerceSingle(def: AttributeDef, raw: unknown, at: string, path: string = def.name): Result<unknown> {
  const value = dialectValue(def, raw);
  if (value === null) return ok(undefined);
  const bad = (what: string) => err(scimErrors.invalidValue(`${at}attribute "${path}" ${what}`));
  switch (def.type) {
    case "string":
    case "reference":
    case "binary":
      if (typeof value !== "string") return bad("must be a string");
      if (value.length > LIMITS.maxString) return bad(`must be at most ${LIMITS.maxString} characters`);
      if (def.required && value.trim() === "") return bad("must not be empty");
      return ok(value);
    case "boolean":
      return typeof value === "boolean" ? ok(value) : bad("must be a boolean");
    case "integer":
      return typeof value === "number" && Number.isInteger(value) ? ok(value) : bad("must be an integer");
    case "decimal":
      return typeof value === "number" && Number.isFinite(value) ? ok(value) : bad("must be a number");
    case "dateTime":
      // RFC 7643 §2.3.5: xsd:dateTime; Date.parse is a lenient but safe approximation.
      return typeof value === "string" && value.length <= 64 && !Number.isNaN(Date.parse(value))
        ? ok(value)
        : bad("must be a dateTime string");
    case "complex": {
      if (!isPlainObject(value)) return bad("must be an object");
      const out: Record<string, unknown> = {};
      for (const [key, v] of Object.entries(value)) {
        const sub = findAttributeDef(def.subAttributes, key);
        // Unknown sub-attributes are dropped; readOnly ones sent by a client are ignored (RFC 7643 §2.2).
        if (!sub || sub.mutability === "readOnly" || sub.mutability === "writeOnly" || v === undefined) continue;
        const r = coerceSingle(sub, v, at, `${path}.${sub.name}`);
        if (!r.ok) return r;
        if (r.value !== undefined) out[sub.name] = r.value;
      }
      return ok(Object.keys(out).length > 0 ? out : undefined);
    }
  }
}

/**
 * Check and coerce a whole attribute value. Multi-valued: a single value is wrapped in an array,
 * duplicates are dropped and at most one element stays `primary` (RFC 7643 §2.4).
 */
export function coerceAttribute(def: AttributeDef, value: unknown, at: string, path: string = def.name): Result<unknown> {
  if (!def.multiValued) return coerceSingle(def, value, at, path);
  if (value === null) return ok(undefined);
  const items = Array.isArray(value) ? value : [value];
  if (items.length > LIMITS.maxMultiValued) {
    return err(scimErrors.invalidValue(`${at}attribute "${path}" has more than ${LIMITS.maxMultiValued} values`));
  }
  const out: unknown[] = [];
  for (const item of items) {
    const r = coerceSingle(def, item, at, path);
    if (!r.ok) return r;
    if (r.value !== undefined && !out.some((x) => deepEqual(x, r.value))) out.push(r.value);
  }
  return ok(out.length > 0 ? singlePrimary(out) : undefined);
}

/**
 * RFC 7643 §2.4: `primary: true` appears at most once. Keeps it on element `keep` (default: the
 * first primary element) and sets it to false on the others; returns a new array.
 */
export function singlePrimary(items: unknown[], keep?: number): unknown[] {
  const winner = keep ?? items.findIndex((x) => isPlainObject(x) && x.primary === true);
  if (winner < 0) return items;
  return items.map((x, i) => (i !== winner && isPlainObject(x) && x.primary === true ? { ...x, primary: false } : x));
}

/** Validate and canonicalise a POST/PUT body (or a PATCH result); `existing` is the stored resource on PUT. */
export function normalizeResource(
  resourceType: "User" | "Group",
  body: unknown,
  existing?: ScimObject,
): Result<NormalizedResource> {
  if (!isPlainObject(body)) return err(scimErrors.invalidSyntax("request body must be a JSON object"));
  const rt = resourceTypes[resourceType];
  const coreUrn = rt.schema;
  const extensions = rt.schemaExtensions.map((e) => e.schema);

  // RFC 7644 §3.3: `schemas` must name the core schema (Okta and Entra always send it).
  const schemasKey = findKey(body, "schemas");
  const declared = schemasKey === undefined ? undefined : body[schemasKey];
  if (!Array.isArray(declared) || !declared.some((s) => typeof s === "string" && s.toLowerCase() === coreUrn.toLowerCase())) {
    return err(scimErrors.invalidSyntax(`"schemas" must include "${coreUrn}"`));
  }

  const defs = coreAttributeDefs(resourceType);
  const core: ScimObject = {};
  const ext: Record<string, ScimObject> = {};
  const unknown: ScimObject = {};
  let members: MemberValue[] | undefined;

  const put = (target: ScimObject, def: AttributeDef, value: unknown): Result<true> => {
    if (def.mutability === "readOnly" || def.mutability === "writeOnly") {
      // RFC 7643 §2.2: readOnly values from the client are ignored; writeOnly `password` is never stored.
      if (def.mutability === "writeOnly") {
        const r = coerceAttribute(def, value, "");
        if (!r.ok) return r;
      }
      return ok(true);
    }
    if (Object.prototype.hasOwnProperty.call(target, def.name)) {
      return err(scimErrors.invalidSyntax(`attribute "${def.name}" appears more than once (names are case-insensitive)`));
    }
    const r = coerceAttribute(def, value, "");
    if (!r.ok) return r;
    if (r.value !== undefined) target[def.name] = r.value;
    return ok(true);
  };

  for (const [key, value] of Object.entries(body)) {
    if (value === undefined) continue;
    const lower = key.toLowerCase();
    if (lower === "schemas") continue;
    const wholeExt = extensions.find((u) => u.toLowerCase() === lower);
    const flatExt = extensions.find((u) => lower.startsWith(u.toLowerCase() + ":"));
    let r: Result<true> = ok(true);
    if (wholeExt !== undefined) {
      if (value === null) continue;
      if (!isPlainObject(value)) return err(scimErrors.invalidValue(`"${wholeExt}" must be an object`));
      for (const [name, v] of Object.entries(value)) {
        const def = findAttributeDef(knownSchemas[wholeExt]!.attributes, name);
        if (def && v !== undefined) r = put((ext[wholeExt] ??= {}), def, v);
        if (!r.ok) return r;
      }
    } else if (flatExt !== undefined) {
      // Lenient: `"urn:…:enterprise:2.0:User:department": "x"` at the top level, as in PATCH paths.
      const def = findAttributeDef(knownSchemas[flatExt]!.attributes, key.slice(flatExt.length + 1));
      if (def) r = put((ext[flatExt] ??= {}), def, value);
    } else if (lower.startsWith("urn:") && !Object.keys(knownSchemas).some((u) => lower.startsWith(u.toLowerCase()))) {
      // An extension we do not know: kept as-is so it round-trips, if it is an object of sane size.
      if (isPlainObject(value)) {
        if (boundedJsonSize(value, LIMITS.maxResourceBytes, LIMITS.maxDepth) === undefined) {
          return err(scimErrors.invalidValue(`extension "${key}" is too large or too deeply nested`));
        }
        unknown[key] = cloneJson(value);
      }
    } else {
      const name = lower.startsWith(coreUrn.toLowerCase() + ":") ? key.slice(coreUrn.length + 1) : key;
      const def = findAttributeDef(defs, name);
      if (!def) continue; // unknown core attribute: dropped (Okta and Entra send extra fields)
      if (resourceType === "Group" && def.name === "members") {
        const found = memberValues(value, "");
        if (!found.ok) return found;
        const known = new Set((members ??= []).map((m) => m.value));
        for (const m of found.value) if (!known.has(m.value)) members.push(m);
        continue;
      }
      r = put(core, def, value);
    }
    if (!r.ok) return r;
  }

  for (const def of defs) {
    if (def.required && def.mutability !== "readOnly" && core[def.name] === undefined) {
      return err(scimErrors.invalidValue(`attribute "${def.name}" is required`));
    }
  }
  // RFC 7644 §3.5.1: a PUT may not change an immutable attribute that already has a value.
  if (existing) {
    for (const def of defs) {
      if (def.mutability !== "immutable") continue;
      const before = existing[def.name];
      if (before !== undefined && core[def.name] !== undefined && !deepEqual(before, core[def.name])) {
        return err(scimErrors.mutability(`attribute "${def.name}" is immutable`));
      }
    }
  }

  const resource: ScimObject = {
    schemas: [coreUrn, ...extensions.filter((u) => ext[u] !== undefined && Object.keys(ext[u]!).length > 0), ...Object.keys(unknown)],
    ...(existing && typeof existing.id === "string" ? { id: existing.id } : {}),
    ...core,
  };
  for (const [urn, obj] of Object.entries(ext)) if (Object.keys(obj).length > 0) resource[urn] = obj;
  Object.assign(resource, unknown);
  if (boundedJsonSize(resource, LIMITS.maxResourceBytes, LIMITS.maxDepth) === undefined) {
    return err(scimErrors.invalidValue(`resource exceeds ${LIMITS.maxResourceBytes} bytes`));
  }
  return ok(members === undefined ? { resource } : { resource, members });
}
