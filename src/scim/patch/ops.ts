/**
 * add / replace / remove on one registry attribute (RFC 7644 §3.5.2.1–§3.5.2.3), working on a
 * private copy of the resource (`container` is the resource, or its extension object).
 */

import { err, ok, scimErrors, type Result } from "../errors";
import type { Filter } from "../filter/ast";
import { matchesFilterWithin } from "../filter/evaluate";
import type { AttributeDef } from "../registry";
import { coerceAttribute, coerceSingle, findAttributeDef, singlePrimary } from "../resource";
import { dialectValue, upsertSeed } from "./dialects";
import { deepEqual, findKey, isPlainObject, type ScimObject } from "./json";
import type { PatchOp } from "./types";

/** An operation resolved to a registry attribute. */
export interface AttrOp {
  op: PatchOp;
  resourceType: "User" | "Group";
  /** Extension URN when the attribute is not in the core schema. */
  ext?: string;
  def: AttributeDef;
  filter?: Filter;
  sub?: AttributeDef;
}

const read = (c: ScimObject, name: string): unknown => {
  const k = findKey(c, name);
  return k === undefined ? undefined : c[k];
};

/** Writes `name` in canonical case; `undefined` (or an empty array/object) unassigns it (RFC 7643 §2.5). */
function write(c: ScimObject, name: string, value: unknown): void {
  const k = findKey(c, name);
  if (k !== undefined) delete c[k];
  const empty = value === undefined || (Array.isArray(value) && value.length === 0) || (isPlainObject(value) && Object.keys(value).length === 0);
  if (!empty) c[name] = value;
}

/** Sets `key` on `obj` (our own copy) in the given case, dropping a differently-cased duplicate. */
function setKeyIn(obj: Record<string, unknown>, key: string, value: unknown): void {
  const k = findKey(obj, key);
  if (k !== undefined) delete obj[k];
  if (value !== undefined) obj[key] = value;
}

/** `el` with `key` set (or removed when `value` is undefined). */
function withKey(el: unknown, key: string, value: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = isPlainObject(el) ? { ...el } : {};
  setKeyIn(out, key, value);
  return out;
}

const nonEmpty = (el: unknown): boolean => !(isPlainObject(el) && Object.keys(el).length === 0);

/** Applies one operation to `container` (mutated: it is the engine's own copy). */
export function applyAttrOp(container: ScimObject, a: AttrOp): Result<true> {
  const { op, def, sub } = a;
  const at = `Operations[${op.index}]: `;
  const name = sub ? `${def.name}.${sub.name}` : def.name;
  if (def.mutability === "readOnly" || sub?.mutability === "readOnly") {
    // Okta echoes the current `id` in path-less replaces (group rename); that is not a change.
    const echo = def.name === "id" && !a.ext && !sub && !a.filter && op.op !== "remove" && op.value === container.id;
    return echo ? ok(true) : err(scimErrors.mutability(`${at}attribute "${name}" is readOnly`));
  }
  if (def.mutability === "writeOnly") {
    // `password` (Okta password sync): type-checked, never stored (RFC 7643 §4.1.1, writeOnly).
    const r = op.op === "remove" ? ok(undefined) : coerceAttribute(def, op.value, at);
    return r.ok ? ok(true) : r;
  }
  // RFC 7643 §2.5: a null value is "unassigned", so add/replace with null removes.
  const remove = op.op === "remove" || op.value === null;
  if (remove && isCoreActive(a)) {
    write(container, def.name, false);
    return ok(true);
  }
  if (a.filter) return filtered(container, a, remove, at, name);
  if (sub) return setSub(container, def, sub, remove ? undefined : op.value, at, name);
  return remove ? removeWhole(container, a, at) : setWhole(container, a, at);
}

/**
 * `remove` of the User's `active` (or a null value) deactivates. RFC 7643 §4.1.1 leaves the "definitive
 * meaning" of `active` to the service provider, and this one fails closed: an unassigned `active` used to
 * read as active (a user pushed without it is active), so removing it from a deactivated user reopened
 * their access. scim2-tester's patch:remove check wants the attribute absent afterwards and will report
 * this one path; we keep `active: false` explicit because IdPs read it back to reconcile state.
 */
function isCoreActive(a: AttrOp): boolean {
  return a.resourceType === "User" && a.ext === undefined && a.def.name === "active" && a.sub === undefined && a.filter === undefined;
}

function setWhole(c: ScimObject, a: AttrOp, at: string): Result<true> {
  const { def, op } = a;
  const cur = read(c, def.name);
  let next: unknown;
  if (def.multiValued) {
    const r = coerceAttribute(def, op.value, at);
    if (!r.ok) return r;
    const incoming = (r.value as unknown[] | undefined) ?? [];
    if (op.op === "replace") next = incoming;
    else {
      // RFC 7644 §3.5.2.1: add appends to a multi-valued attribute; identical values are not duplicated.
      const merged = Array.isArray(cur) ? [...(cur as unknown[])] : [];
      let keep: number | undefined;
      for (const el of incoming) {
        let i = merged.findIndex((x) => deepEqual(x, el));
        if (i < 0) i = merged.push(el) - 1;
        if (isPlainObject(el) && el.primary === true) keep = i;
      }
      next = singlePrimary(merged, keep);
    }
  } else if (def.type === "complex") {
    // RFC 7644 §3.5.2.1/§3.5.2.3: on a complex attribute the given sub-attributes are set, others kept.
    const v = dialectValue(def, op.value);
    if (v === null) return removeWhole(c, a, at);
    if (!isPlainObject(v)) return err(scimErrors.invalidValue(`${at}attribute "${def.name}" must be an object`));
    const merged: Record<string, unknown> = isPlainObject(cur) ? { ...cur } : {};
    for (const [k, raw] of Object.entries(v)) {
      const sd = findAttributeDef(def.subAttributes, k);
      if (!sd || sd.mutability === "readOnly" || raw === undefined) continue; // ignored, as on POST (RFC 7643 §2.2)
      const r = coerceSingle(sd, raw, at, `${def.name}.${sd.name}`);
      if (!r.ok) return r;
      setKeyIn(merged, sd.name, r.value);
    }
    next = merged;
  } else {
    const r = coerceSingle(def, op.value, at);
    if (!r.ok) return r;
    next = r.value;
  }
  if (def.mutability === "immutable" && cur !== undefined && !deepEqual(cur, next)) {
    return err(scimErrors.mutability(`${at}attribute "${def.name}" is immutable`));
  }
  if (def.required && next === undefined) return err(scimErrors.invalidValue(`${at}attribute "${def.name}" is required`));
  write(c, def.name, next);
  return ok(true);
}

function removeWhole(c: ScimObject, a: AttrOp, at: string): Result<true> {
  const { def, op } = a;
  const cur = read(c, def.name);
  if (cur === undefined) return ok(true); // removing an unassigned attribute is a no-op
  if (def.required) return err(scimErrors.invalidValue(`${at}attribute "${def.name}" is required and cannot be removed`));
  if (def.mutability === "immutable") return err(scimErrors.mutability(`${at}attribute "${def.name}" is immutable`));
  if (def.multiValued && op.value !== undefined && op.value !== null && Array.isArray(cur)) {
    // Entra ID style: remove with a value array removes just those values (see dialects.ts).
    const items = Array.isArray(op.value) ? op.value : [op.value];
    write(c, def.name, cur.filter((el) => !items.some((item) => sameValue(def, item, el))));
    return ok(true);
  }
  write(c, def.name, undefined);
  return ok(true);
}

/** True when every sub-attribute given in `item` equals the element's (case per registry). */
function sameValue(def: AttributeDef, item: unknown, el: unknown): boolean {
  if (!isPlainObject(item) || !isPlainObject(el)) return deepEqual(item, el);
  const keys = Object.keys(item);
  return (
    keys.length > 0 &&
    keys.every((k) => {
      const sd = findAttributeDef(def.subAttributes, k);
      const want = item[k];
      const have = read(el, sd?.name ?? k);
      if (typeof want === "string" && typeof have === "string" && !sd?.caseExact) return want.toLowerCase() === have.toLowerCase();
      return deepEqual(want, have);
    })
  );
}

/** `attr.sub` without a filter: on a multi-valued attribute, every element (RFC 7644 §3.5.2). */
function setSub(c: ScimObject, def: AttributeDef, sub: AttributeDef, raw: unknown, at: string, name: string): Result<true> {
  const r = raw === undefined ? ok(undefined) : coerceSingle(sub, raw, at, name);
  if (!r.ok) return r;
  const cur = read(c, def.name);
  if (!def.multiValued) {
    if (r.value === undefined && !isPlainObject(cur)) return ok(true);
    write(c, def.name, withKey(cur, sub.name, r.value));
    return ok(true);
  }
  const arr = Array.isArray(cur) ? cur : [];
  if (arr.length === 0) {
    if (r.value !== undefined) write(c, def.name, [{ [sub.name]: r.value }]);
    return ok(true);
  }
  const next = arr.map((el) => withKey(el, sub.name, r.value)).filter(nonEmpty);
  write(c, def.name, singlePrimary(dedupe(next)));
  return ok(true);
}

/** `attr[filter]` and `attr[filter].sub` (RFC 7644 §3.5.2.1–§3.5.2.3). */
function filtered(c: ScimObject, a: AttrOp, remove: boolean, at: string, name: string): Result<true> {
  const { def, sub, op, filter } = a;
  const cur = read(c, def.name);
  const arr = Array.isArray(cur) ? (cur as unknown[]) : [];
  const parent = a.ext ? `${a.ext}:${def.name}` : def.name;
  const hit = new Set<number>();
  arr.forEach((el, i) => {
    if (isPlainObject(el) && matchesFilterWithin(el, filter!, a.resourceType, parent)) hit.add(i);
  });

  if (remove) {
    // RFC 7644 §3.12 noTarget: the filter selected nothing.
    if (hit.size === 0) return err(scimErrors.noTarget(`${at}no value of "${def.name}" matches the filter in "${op.path}"`));
    const next = sub
      ? arr.map((el, i) => (hit.has(i) ? withKey(el, sub.name, undefined) : el)).filter(nonEmpty)
      : arr.filter((_, i) => !hit.has(i));
    write(c, def.name, next);
    return ok(true);
  }

  if (!sub && !isPlainObject(op.value)) return err(scimErrors.invalidValue(`${at}value for "${op.path}" must be an object`));
  if (hit.size === 0) {
    // RFC 7644 §3.5.2.3: no match → noTarget, unless it is Entra's `attr[type eq "x"].sub` (dialects.ts).
    const seed = upsertSeed(filter!, sub !== undefined);
    if (!seed || !sub) return err(scimErrors.noTarget(`${at}no value of "${def.name}" matches the filter in "${op.path}"`));
    const raw = { ...seed, [sub.name]: op.value };
    const r = coerceSingle(def, raw, at);
    if (!r.ok) return r;
    if (r.value === undefined) return ok(true);
    const next = [...arr, r.value];
    write(c, def.name, singlePrimary(dedupe(next), isPlainObject(r.value) && r.value.primary === true ? next.length - 1 : undefined));
    return ok(true);
  }

  const next = [...arr];
  let keep: number | undefined;
  for (const i of hit) {
    let r: Result<unknown>;
    if (sub) {
      const sr = coerceSingle(sub, op.value, at, name);
      r = sr.ok ? ok(withKey(arr[i], sub.name, sr.value)) : sr;
    } else {
      // replace: the matching values are replaced; add: the given sub-attributes are merged in.
      const base = op.op === "add" && isPlainObject(arr[i]) ? { ...(arr[i] as Record<string, unknown>) } : {};
      for (const [k, v] of Object.entries(op.value as Record<string, unknown>)) setKeyIn(base, k, v);
      r = coerceSingle(def, base, at);
    }
    if (!r.ok) return r;
    next[i] = r.value ?? {};
    if (isPlainObject(r.value) && r.value.primary === true) keep = i;
  }
  write(c, def.name, dedupe(singlePrimary(next, keep)).filter(nonEmpty));
  return ok(true);
}

function dedupe(items: unknown[]): unknown[] {
  const out: unknown[] = [];
  for (const x of items) if (!out.some((y) => deepEqual(x, y))) out.push(x);
  return out;
}
