/** Types of the PATCH engine (RFC 7644 §3.5.2). */

import type { ScimObject } from "./json";

export type { ScimObject } from "./json";

/**
 * One member as a client sent it: the user id and, optionally, its `display` (RFC 7643 §2.4:
 * set by the client, kept as sent).
 */
export interface MemberValue {
  value: string;
  display?: string;
}

/**
 * A group-membership change for the caller to apply, in order, as SQL set operations on
 * `group_members` (members are never loaded into memory: groups can have 50k+ of them).
 * `replace` with an empty list is emitted as `removeAll`.
 */
export type MemberOp =
  | { op: "add"; members: MemberValue[] }
  | { op: "remove"; ids: string[] }
  | { op: "replace"; members: MemberValue[] }
  | { op: "removeAll" };

/** What `applyPatch` returns: the new resource, whether its attributes changed, and the membership changes. */
export interface PatchResult {
  resource: ScimObject;
  /**
   * Whether the resource's attributes changed. Member operations do NOT count: they are set
   * operations that commute, so a caller applies them without a read-modify-write (and without
   * a version guard) and only guards writes where `changed` is true.
   */
  changed: boolean;
  memberOps: MemberOp[];
}

/** One operation after validation and dialect normalisation (see `dialects.ts`); always lower-case `op`. */
export interface PatchOp {
  /** Index in the request's `Operations` array, for error details (`Operations[2]: …`). */
  index: number;
  op: "add" | "replace" | "remove";
  /** Always set: path-less add/replace are expanded to one op per attribute of `value`. */
  path: string;
  /** Undefined only for `remove` without a value. */
  value?: unknown;
  /** The path names a whole extension object (a URN key of a path-less value). */
  wholeExtension?: boolean;
}
