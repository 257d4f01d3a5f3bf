/**
 * Recognises a Group PATCH that only changes membership, without the resource: Entra ID and Okta
 * push each member add/remove as its own PATCH (RFC 7644 §3.5.2.1 `add` with path `members`,
 * §3.5.2.2 `remove` with `members[value eq "<id>"]`, Entra's `remove` with a value array), and such
 * a request needs neither the group's attributes nor its version: its member operations are set
 * operations that the caller can apply directly.
 */

import { normalizeOperations } from "./dialects";
import { memberOp } from "./members";
import { resolveTarget } from "./target";
import type { MemberOp } from "./types";

/**
 * The member operations of a Group PATCH body when EVERY operation targets `members`; `undefined`
 * when any touches another attribute, the body is invalid (the full engine reports the error), or
 * nothing would change (e.g. `add` with an empty list: the caller answers without a write).
 */
export function memberOnlyOps(body: unknown): MemberOp[] | undefined {
  // Same normalisation as applyPatch: Entra's capitalised ops, path-less `{"members": [...]}` values.
  const ops = normalizeOperations("Group", body);
  if (!ops.ok) return undefined;
  const out: MemberOp[] = [];
  for (const op of ops.value) {
    // The resource only matters for unknown extension keys, which are not members anyway.
    const target = resolveTarget("Group", op, {});
    if (!target.ok || target.value.kind !== "attr" || target.value.ext !== undefined || target.value.def.name !== "members") return undefined;
    const m = memberOp(op, target.value.filter, target.value.sub?.name);
    if (!m.ok) return undefined;
    if (m.value) out.push(m.value);
  }
  return out.length > 0 ? out : undefined;
}
