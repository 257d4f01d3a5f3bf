// Wire types of the UserSessions Durable Object's RPC methods. Callers import these (and the
// client in ./client.ts), never the Durable Object class itself. All timestamps are milliseconds
// since the Unix epoch; JWT claims (seconds) are derived from them by the caller.

/** An Access app session (browser, `CF_Authorization`) or a Gateway device session (DoH token). */
export type SessionKind = "access" | "gateway";

/** Why a session stopped being honoured; stored with the session and returned by `check`. */
export type RevokeReason =
  /** The user signed out (`/cdn-cgi/access/logout` ends every app session). */
  | "logout"
  /** An admin revoked the user (`revoke_user`) or one session. */
  | "admin_revoked"
  /** An admin revoked one app's tokens (`apps/:id/revoke_tokens`). */
  | "app_revoked"
  /** A Gateway device was unenrolled. */
  | "device_removed"
  /** SCIM deactivation or deletion with `user_deprovision` on. */
  | "deprovisioned"
  /** Group membership changed under `identity_update_behavior = reauth`. */
  | "groups_changed";

/** A SCIM group as it appears in the identity snapshot and in policy rules (`group {id}`, `okta {name}`). */
export interface GroupRef {
  id: string;
  name: string;
}

/** Who the user is, as of the last login or `automatic` group change: what policies are evaluated against. */
export interface Identity {
  /** The Durable Object's name (the directory user id); null only for objects not addressed by name. */
  userId: string | null;
  idpId: string | null;
  email: string | null;
  groups: GroupRef[];
}

/** The identity a login read from the directory, handed to `createSession`. */
export interface IdentityInput {
  idpId: string;
  email: string;
  groups: GroupRef[];
  /**
   * The user's `users.groups_version`, read in the same D1 snapshot as `groups`. A snapshot older
   * than a change the object already holds the groups of keeps the object's newer groups (email and
   * IdP are still taken); older than a change it saw without groups (`no_action`), the login is
   * refused with `stale_groups`. Without it, the login's groups are taken as current.
   */
  groupsVersion?: number;
}

/** `createSession` input: Access sessions may be org-wide (no app); Gateway sessions belong to a device. */
export type CreateSessionInput =
  /**
   * `parentSessionId`: the org session an app session is opened from. The object opens the app
   * session only while that parent is live (atomically, so a concurrent logout cannot be outrun),
   * and never lets the child outlive it; `revokeLogin` ends parent and children together.
   */
  | { kind: "access"; appId?: string; parentSessionId?: string; ttlSeconds: number; identity?: IdentityInput }
  | { kind: "gateway"; deviceId: string; ttlSeconds: number; identity?: IdentityInput };

/**
 * Why `createSession` refused: the gate is closed for this user, or (`stale_groups`) the login read
 * its groups before a change the object has already seen and cannot supply itself (a `no_action`
 * change keeps only its version); the caller re-reads the directory and tries again.
 */
export type CreateSessionRefusal = "deprovisioned" | "inactive" | "stale_groups" | "parent_ended";

/** `createSession` result: a refusal is an expected outcome, not an exception. */
export type CreateSessionResult =
  | { ok: true; sessionId: string; expiresAt: number }
  | { ok: false; error: CreateSessionRefusal };

/** `check` result: only `valid` lets a request through; every other status means "sign in again". */
export type CheckResult =
  | {
      status: "valid";
      kind: SessionKind;
      appId: string | null;
      deviceId: string | null;
      identity: Identity;
      /** The version of `identity.groups`; callers re-evaluate policy when it differs from the token's. */
      groupsVersion: number;
      expiresAt: number;
    }
  | { status: "revoked"; reason: RevokeReason }
  | { status: "expired" }
  | { status: "reauth_required" }
  | { status: "unknown" }
  /** The session authority could not answer (object error, overload, network): deny, fail closed. */
  | { status: "unavailable" };

/** How many live sessions a revocation ended (already revoked or expired ones are not counted). */
export interface RevokeResult {
  revoked: number;
}

/** Cloudflare's `identity_update_behavior`, applied to one user's group change. */
export type IdentityUpdateBehavior = "automatic" | "reauth" | "no_action";

/** A group-membership change for one user, as delivered (possibly more than once) by the queue. */
export interface GroupsChange {
  /** Monotonic per user, from 1 (a new gate is at 0); a change at or below the last seen version is ignored (redelivery). */
  groupsVersion: number;
  behavior: IdentityUpdateBehavior;
  /** The user's complete group list after the change. */
  groups: GroupRef[];
}

/** `noteGroupsChanged` result: `applied: false` means a redelivered or out-of-order change. */
export interface GroupsChangeResult {
  applied: boolean;
  revoked: number;
}

/** The user's gate state: whether new sessions may be created, and the identity checks return. */
export interface GateState {
  active: boolean;
  deprovisioned: boolean;
  /** The newest group change seen (idempotency watermark), whatever its behavior. */
  groupsVersion: number;
  /** The version of `identity.groups` (lags `groupsVersion` after `no_action` changes). */
  snapshotVersion: number;
  /** Sessions created at or before this instant answer `reauth_required`; null when never set. */
  reauthAfter: number | null;
  /** The D1 `users.version` that `active`/`deprovisioned` were last decided at (0: unknown). */
  directoryVersion: number;
  /** When that decision was taken (ms; 0: unknown). */
  directoryDecidedAt: number;
  identity: Identity;
}

/** One live (neither revoked nor expired) session, as listed for admins and the user. */
export interface SessionInfo {
  id: string;
  kind: SessionKind;
  appId: string | null;
  deviceId: string | null;
  createdAt: number;
  expiresAt: number;
  /** Accurate to about a minute: `check` only writes it when the stored value is older than that. */
  lastSeenAt: number;
}
