/**
 * Group membership in PATCH (RFC 7644 §3.5.2, examples in §3.5.2.1–§3.5.2.3) turned into set
 * operations: members live in a join table and are never loaded, so nothing here reads them.
 */

import { err, ok, scimErrors, type Result } from "../errors";
import type { Filter } from "../filter/ast";
import { findKey, isPlainObject } from "./json";
import type { MemberOp, MemberValue, PatchOp } from "./types";

/** Most member ids one operation (or one POST/PUT body) may carry. */
export const MAX_MEMBER_IDS = 100_000;
const MAX_ID_LENGTH = 256;
/** Longest member `display` kept (a label, not a document). */
export const MAX_MEMBER_DISPLAY = 1024;

/**
 * Members from a `members` value: `[{ "value": "<id>", "display": "…" }, …]` (a single object is
 * accepted too). `display` is optional and kept as sent (RFC 7643 §2.4: the client sets it; Microsoft's
 * SCIM validator posts members with `display` and reads it back). A repeated id keeps its first
 * `display`.
 */
export function memberValues(value: unknown, at: string): Result<MemberValue[]> {
  if (value === null) return ok([]);
  const items = Array.isArray(value) ? value : [value];
  if (items.length > MAX_MEMBER_IDS) return err(scimErrors.tooMany(`${at}more than ${MAX_MEMBER_IDS} members`));
  const byId = new Map<string, MemberValue>();
  for (const [i, item] of items.entries()) {
    const key = isPlainObject(item) ? findKey(item, "value") : undefined;
    const id = isPlainObject(item) && key !== undefined ? item[key] : undefined;
    if (typeof id !== "string" || id.trim() === "" || id.length > MAX_ID_LENGTH) {
      return err(scimErrors.invalidValue(`${at}members[${i}] must be an object with a non-empty string "value"`));
    }
    const displayKey = findKey(item as Record<string, unknown>, "display");
    const display = displayKey === undefined ? undefined : (item as Record<string, unknown>)[displayKey];
    if (display !== undefined && display !== null && (typeof display !== "string" || display.length > MAX_MEMBER_DISPLAY)) {
      return err(scimErrors.invalidValue(`${at}members[${i}].display must be a string of at most ${MAX_MEMBER_DISPLAY} characters`));
    }
    const seen = byId.get(id);
    if (!seen) byId.set(id, typeof display === "string" && display !== "" ? { value: id, display } : { value: id });
    else if (seen.display === undefined && typeof display === "string" && display !== "") seen.display = display;
  }
  return ok([...byId.values()]);
}

/**
 * Ids selected by a `members[…]` filter: `value eq "<id>"`, or several joined with `or`
 * (Okta and Entra remove one member per filter; some clients join them).
 */
function filterIds(filter: Filter): string[] | undefined {
  const ids: string[] = [];
  const stack: Filter[] = [filter];
  while (stack.length > 0) {
    const f = stack.pop()!;
    if (f.kind === "or") stack.push(f.right, f.left);
    else if (f.kind === "compare" && f.op === "eq" && typeof f.value === "string" && /^(members\.)?value$/i.test(f.path)) ids.push(f.value);
    else return undefined;
  }
  return ids;
}

/**
 * The member operation for a PATCH op addressing a Group's `members` (already resolved to that
 * attribute, with an optional value filter and sub-attribute). Returns `undefined` for a no-op.
 */
export function memberOp(op: PatchOp, filter: Filter | undefined, subAttr: string | undefined): Result<MemberOp | undefined> {
  const at = `Operations[${op.index}]: `;
  if (subAttr !== undefined) {
    return err(scimErrors.invalidPath(`${at}member sub-attributes cannot be modified; add or remove members instead`));
  }
  if (filter !== undefined) {
    // `remove` with path `members[value eq "<id>"]` (Okta; RFC 7644 §3.5.2.2 example).
    const ids = op.op === "remove" ? filterIds(filter) : undefined;
    if (ids === undefined) {
      return err(scimErrors.invalidPath(`${at}members can only be selected for removal with value eq "<id>"`));
    }
    return ok({ op: "remove", ids: [...new Set(ids)] });
  }
  if (op.op === "remove" && op.value === undefined) return ok({ op: "removeAll" });
  // `remove` with a value array is Entra ID's way to remove several members (normalised in dialects.ts).
  const members = memberValues(op.value, at);
  if (!members.ok) return members;
  if (op.op === "replace") return ok(members.value.length === 0 ? { op: "removeAll" } : { op: "replace", members: members.value });
  if (members.value.length === 0) return ok(undefined);
  return ok(op.op === "add" ? { op: "add", members: members.value } : { op: "remove", ids: members.value.map((m) => m.value) });
}
