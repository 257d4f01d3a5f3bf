import { sessionsFor } from "./client";
import type { GroupsChange, GroupsChangeResult, RevokeReason, RevokeResult } from "./types";

/**
 * The session side effects that directory writes and admin actions trigger, in one object so
 * every caller goes through the same few calls (and tests can inject faults into them).
 */
export const sessionEffects = {
  /**
   * Revokes every session of the user and refuses new ones until reactivated (SCIM deprovisioning).
   * `directoryVersion`: the D1 `users.version` the deactivation is about to write.
   */
  deprovision(env: Env, userId: string, actor: string, directoryVersion?: number): Promise<RevokeResult> {
    return sessionsFor(env, userId).deprovision(actor, directoryVersion);
  },
  /**
   * Opens or closes the user's gate for new sessions (`true` also clears `deprovisioned`), decided at
   * D1 `users.version` `directoryVersion`; a `heal` never undoes a decision taken at a newer version.
   */
  async setActive(env: Env, userId: string, active: boolean, directoryVersion?: number, heal = false): Promise<void> {
    await sessionsFor(env, userId).setActive(active, directoryVersion, heal);
  },
  /** Revokes every live session of the user, leaving the gate open (admin `revoke_user`). */
  revokeAll(env: Env, userId: string, reason: RevokeReason, actor: string): Promise<RevokeResult> {
    return sessionsFor(env, userId).revokeAll(reason, actor);
  },
  /** Revokes the user's sessions of one Access app. */
  revokeApp(env: Env, userId: string, appId: string, actor: string): Promise<RevokeResult> {
    return sessionsFor(env, userId).revokeApp(appId, "app_revoked", actor);
  },
  /** Delivers a group change (idempotent by `groupsVersion`: the user's `users.groups_version`, read at delivery). */
  noteGroupsChanged(env: Env, userId: string, change: GroupsChange): Promise<GroupsChangeResult> {
    return sessionsFor(env, userId).noteGroupsChanged(change);
  },
};
