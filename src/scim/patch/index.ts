/** The SCIM PATCH engine (RFC 7644 §3.5.2) and its IdP dialects. */

export { applyPatch } from "./apply";
export { MAX_OPERATIONS, normalizeOperations } from "./dialects";
export { MAX_MEMBER_IDS } from "./members";
export { memberOnlyOps } from "./member-only";
export type { MemberOp, MemberValue, PatchResult, ScimObject } from "./types";
