import { dispatchIdentityChange } from "../sessions/fanout";
import { nextGroupsVersion } from "../sessions/effects";
import type { IdentityUpdateBehavior } from "../sessions/types";
import type { DirectoryContext } from "./context";

/** Users whose memberships one group write changed (a rename or deletion lists every member). */
export interface MembershipChange {
  groupId: string;
  added: string[];
  removed: string[];
  /** Members whose group list only changed by the group's new name. */
  renamedFor?: string[];
}

/** Whether a write must work out which users it touched (reading a whole group's members costs O(n)). */
export function tracksMembership(ctx: DirectoryContext): boolean {
  return ctx.idp.identityUpdateBehavior !== "no_action";
}

/**
 * Applies the connection's `identity_update_behavior` to the users a group write touched: bumps
 * their groups version and, for `reauth`, revokes their sessions; for `automatic`, the next session
 * check returns the new groups; `no_action` changes nothing until the sessions end. Small changes
 * are applied before the SCIM response; large ones (a 50k-member group replaced or deleted) fan
 * out through the queue.
 */
export async function afterMembershipChange(ctx: DirectoryContext, change: MembershipChange): Promise<void> {
  const behavior = ctx.idp.identityUpdateBehavior as IdentityUpdateBehavior;
  if (!tracksMembership(ctx)) return;
  const userIds = [...new Set([...change.added, ...change.removed, ...(change.renamedFor ?? [])])];
  await dispatchIdentityChange(ctx.env, { type: "groups_changed", userIds, groupsVersion: nextGroupsVersion(), behavior, actor: ctx.actor });
}
