/**
 * The PATCH engine (RFC 7644 §3.5.2): `(resource, body) → { resource, changed, memberOps }`.
 * Pure: works on a private copy, never throws for bad input, never touches storage.
 */

import { err, ok, scimErrors, type Result } from "../errors";
import { resourceTypes, schemas as knownSchemas } from "../registry";
import { findAttributeDef, LIMITS } from "../resource";
import { normalizeOperations } from "./dialects";
import { boundedJsonSize, cloneJson, deepEqual, findKey, isPlainObject, type ScimObject } from "./json";
import { memberOp } from "./members";
import { applyAttrOp } from "./ops";
import { resolveTarget, type Target } from "./target";
import type { MemberOp, PatchOp, PatchResult } from "./types";

type ResourceType = "User" | "Group";

/**
 * Apply a SCIM PATCH body to `resource` (without `meta`; a Group without `members`). Group member
 * changes come back as ordered `memberOps`; `changed` says whether the attributes changed (false for
 * a no-op such as Okta re-sending values, and for a members-only PATCH).
 */
export function applyPatch(resourceType: ResourceType, resource: ScimObject, body: unknown): Result<PatchResult> {
  const ops = normalizeOperations(resourceType, body);
  if (!ops.ok) return ops;
  const work = cloneJson(resource); // the input is never mutated, even on failure
  const memberOps: MemberOp[] = [];
  for (const op of ops.value) {
    const target = resolveTarget(resourceType, op, work);
    if (!target.ok) return target;
    const r = applyOne(resourceType, work, op, target.value, memberOps);
    if (!r.ok) return r;
  }
  maintainSchemas(resourceType, resource, work);
  if (boundedJsonSize(work, LIMITS.maxResourceBytes, LIMITS.maxDepth) === undefined) {
    return err(scimErrors.invalidValue(`the patched resource would exceed ${LIMITS.maxResourceBytes} bytes`));
  }
  return ok({ resource: work, changed: !deepEqual(resource, work), memberOps });
}

function applyOne(resourceType: ResourceType, work: ScimObject, op: PatchOp, t: Target, memberOps: MemberOp[]): Result<true> {
  const at = `Operations[${op.index}]: `;
  switch (t.kind) {
    case "attr": {
      if (resourceType === "Group" && t.def.name === "members") {
        const m = memberOp(op, t.filter, t.sub?.name);
        if (!m.ok) return m;
        if (m.value) memberOps.push(m.value);
        return ok(true);
      }
      const container = t.ext === undefined ? work : extensionObject(work, t.ext);
      return applyAttrOp(container, {
        op,
        resourceType,
        def: t.def,
        ...(t.ext !== undefined ? { ext: t.ext } : {}),
        ...(t.filter !== undefined ? { filter: t.filter } : {}),
        ...(t.sub !== undefined ? { sub: t.sub } : {}),
      });
    }
    case "extension": {
      // The whole enterprise extension object: each of its attributes is an operation of its own.
      const key = findKey(work, t.urn);
      if (op.op === "remove" || op.value === null) {
        if (key !== undefined) delete work[key];
        return ok(true);
      }
      if (!isPlainObject(op.value)) return err(scimErrors.invalidValue(`${at}value for "${t.urn}" must be an object`));
      for (const [name, value] of Object.entries(op.value)) {
        // scim2-tester sends the extension with its own `schemas` member: not an attribute (RFC 7643 §3.3), ignored.
        if (name.toLowerCase() === "schemas") continue;
        const def = findAttributeDef(knownSchemas[t.urn]?.attributes, name);
        if (!def) return err(scimErrors.invalidPath(`${at}unknown attribute "${name}" of "${t.urn}"`));
        const r = applyAttrOp(extensionObject(work, t.urn), { op: { ...op, path: `${t.urn}:${def.name}`, value }, resourceType, ext: t.urn, def });
        if (!r.ok) return r;
      }
      return ok(true);
    }
    case "unknown":
      return applyUnknown(work, op, t.key, t.names);
  }
}

/** The object holding a known extension's attributes, created (under its canonical URN) if missing. */
function extensionObject(work: ScimObject, urn: string): ScimObject {
  const key = findKey(work, urn);
  const cur = key === undefined ? undefined : work[key];
  if (key !== undefined && key !== urn) delete work[key];
  const obj = isPlainObject(cur) ? cur : {};
  work[urn] = obj;
  return obj;
}

/**
 * An extension the registry does not know (e.g. `urn:acme:…:User:costCode`): stored as sent so it
 * round-trips; no type checks beyond the resource size limit.
 */
function applyUnknown(work: ScimObject, op: PatchOp, key: string, names: string[]): Result<true> {
  const at = `Operations[${op.index}]: `;
  const remove = op.op === "remove" || op.value === null;
  const [first, second] = names;
  if (first === undefined) {
    if (remove) {
      delete work[key];
      return ok(true);
    }
    if (!isPlainObject(op.value)) return err(scimErrors.invalidValue(`${at}value for "${key}" must be an object`));
    const obj: Record<string, unknown> = isPlainObject(work[key]) ? (work[key] as Record<string, unknown>) : {};
    for (const [k, v] of Object.entries(op.value)) setUnknown(obj, k, v, op.op === "add");
    work[key] = obj;
  } else {
    const obj: Record<string, unknown> = isPlainObject(work[key]) ? (work[key] as Record<string, unknown>) : {};
    work[key] = obj;
    if (second === undefined) setUnknown(obj, first, remove ? undefined : op.value, op.op === "add");
    else {
      const k = findKey(obj, first) ?? first;
      const inner = obj[k];
      if (inner !== undefined && !isPlainObject(inner)) return err(scimErrors.invalidPath(`${at}"${first}" has no sub-attributes`));
      const innerObj: Record<string, unknown> = isPlainObject(inner) ? inner : {};
      setUnknown(innerObj, second, remove ? undefined : op.value, op.op === "add");
      obj[k] = innerObj;
      if (Object.keys(innerObj).length === 0) delete obj[k];
    }
  }
  if (boundedJsonSize(work, LIMITS.maxResourceBytes, LIMITS.maxDepth) === undefined) {
    return err(scimErrors.invalidValue(`${at}value for "${op.path}" is too large or too deeply nested`));
  }
  return ok(true);
}

/** Sets (null/undefined: removes) a key of an unknown extension; `add` to an array appends (RFC 7644 §3.5.2.1). */
function setUnknown(obj: Record<string, unknown>, name: string, value: unknown, add: boolean): void {
  const k = findKey(obj, name) ?? name;
  if (value === undefined || value === null) {
    delete obj[k];
    return;
  }
  const cur = obj[k];
  if (add && Array.isArray(cur)) {
    const next = [...cur];
    for (const v of Array.isArray(value) ? value : [value]) if (!next.some((x) => deepEqual(x, v))) next.push(cloneJson(v));
    obj[k] = next;
  } else obj[k] = cloneJson(value);
}

/**
 * Keep `schemas` in step with the data (RFC 7643 §3): an extension with attributes is listed, one
 * emptied by this patch is dropped along with its (empty) object.
 */
function maintainSchemas(resourceType: ResourceType, before: ScimObject, work: ScimObject): void {
  const core = resourceTypes[resourceType].schema;
  for (const key of Object.keys(work)) {
    const v = work[key];
    if (key.toLowerCase().startsWith("urn:") && isPlainObject(v) && Object.keys(v).length === 0) delete work[key];
  }
  const declared = Array.isArray(work.schemas) ? work.schemas.filter((s): s is string => typeof s === "string") : [core];
  const has = (urn: string) => declared.some((s) => s.toLowerCase() === urn.toLowerCase());
  const next = has(core) ? [...declared] : [core, ...declared];
  for (const key of Object.keys(work)) if (key.toLowerCase().startsWith("urn:") && !has(key)) next.push(key);
  const removed = Object.keys(before).filter((k) => k.toLowerCase().startsWith("urn:") && findKey(work, k) === undefined);
  const result = next.filter((s) => !removed.some((k) => k.toLowerCase() === s.toLowerCase()));
  if (!deepEqual(result, work.schemas)) work.schemas = result;
}
