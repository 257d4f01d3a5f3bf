import { auditStatement } from "../logs/audit";
import { scimErrors } from "../scim/errors";
import { sessionEffects } from "../sessions/effects";
import type { DirectoryContext } from "./context";

/** A user's state change as a directory write is about to make it. */
export interface UserTransition {
  userId: string;
  wasActive: boolean;
  isActive: boolean;
  email: string | null;
  deleted?: boolean;
  /** The D1 `users.version` the write read (it writes `version + 1`). */
  version: number;
  /**
   * The request itself says `active=true` (a PUT, or a PATCH naming `active`). The gate is then
   * reopened even when D1 already says active, so a gate left closed by an earlier failure can
   * always be opened by the IdP.
   */
  assertsActive?: boolean;
}

/** What `beforeUserWrite` did to the user's Durable Object, so a failed write can undo it. */
export type GateTouch = "none" | "closed" | "opened";

/** Runs a session call that must succeed before D1 is written; failure answers 503 so the IdP retries. */
async function failClosed<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    console.error("session authority unavailable", e instanceof Error ? e.message : String(e));
    throw scimErrors.unavailable("The user's sessions could not be updated; nothing was changed. Retry the request.");
  }
}

/**
 * The connection's deprovisioning settings read from D1 now, not from the per-isolate connection
 * cache: an admin who turns `user_deprovision` on expects the very next deactivation to revoke.
 */
async function freshSettings(ctx: DirectoryContext): Promise<{ userDeprovision: boolean }> {
  const row = await ctx.db
    .prepare("SELECT scim_enabled, user_deprovision FROM identity_providers WHERE id = ?")
    .bind(ctx.idp.id)
    .first<{ scim_enabled: number; user_deprovision: number }>();
  if (!row || row.scim_enabled !== 1) throw scimErrors.unauthorized("SCIM provisioning is disabled for this identity provider");
  return { userDeprovision: row.user_deprovision === 1 };
}

/** Whether a transition needs the user's Durable Object before D1 is written. */
export function touchesGate(t: UserTransition): boolean {
  return t.deleted === true || t.wasActive !== t.isActive || (t.isActive && t.assertsActive === true);
}

/**
 * Deprovisioning and session revocation as one use case. Runs after the new state is computed and
 * BEFORE D1 is written: a deactivation or deletion revokes every session first (fail closed), so the
 * IdP's 2xx means no session of the user is honoured again. Returns audit-log inserts for the
 * caller's write batch and what it did to the gate (for `afterFailedWrite`).
 */
export async function beforeUserWrite(ctx: DirectoryContext, t: UserTransition): Promise<{ audit: D1PreparedStatement[]; touch: GateTouch }> {
  const { env } = ctx;
  const leaving = t.deleted === true || (t.wasActive && !t.isActive);
  if (leaving) {
    const reason = t.deleted ? "scim_delete" : "scim_deactivate";
    const { userDeprovision } = await freshSettings(ctx);
    if (userDeprovision) {
      const { revoked } = await failClosed(() => sessionEffects.deprovision(env, t.userId, ctx.actor, t.version + 1));
      return { touch: "closed", audit: [auditStatement(ctx.db, { actor: ctx.actor, action: "sessions.revoke_all", targetType: "user", targetId: t.userId, details: { reason, revoked, email: t.email, setting: "user_deprovision" } })] };
    }
    // user_deprovision off (Cloudflare's behaviour): existing sessions run out; new logins are refused.
    await failClosed(() => sessionEffects.setActive(env, t.userId, false, t.version + 1));
    return { touch: "closed", audit: [auditStatement(ctx.db, { actor: ctx.actor, action: "user.deactivate", targetType: "user", targetId: t.userId, details: { reason, email: t.email, sessions: "kept (user_deprovision off)" } })] };
  }
  if (t.isActive && (!t.wasActive || t.assertsActive === true)) {
    // Reactivation opens the gate for new logins; sessions revoked earlier stay revoked. Repeating
    // `active=true` for a user D1 holds as active is a heal: it reopens a gate left closed, but never
    // one that a concurrent deactivation (deciding at a newer version) has just closed.
    const heal = t.wasActive;
    await failClosed(() => sessionEffects.setActive(env, t.userId, true, heal ? t.version : t.version + 1, heal));
    if (t.wasActive) return { touch: "opened", audit: [] };
    return { touch: "opened", audit: [auditStatement(ctx.db, { actor: ctx.actor, action: "user.reactivate", targetType: "user", targetId: t.userId, details: { email: t.email } })] };
  }
  return { touch: "none", audit: [] };
}

/**
 * Compensation after `beforeUserWrite` changed the gate but the D1 write was refused (a 4xx such as
 * a userName collision, a lost race, a stale If-Match): the object is put back in line with what D1
 * says NOW. A user D1 still holds as active gets the gate reopened (its revoked sessions stay
 * revoked: failing closed on those is harmless); a user D1 holds as inactive gets it closed. Only
 * called when the write is known not to have committed; after a 5xx from D1 (outcome unknown) the
 * gate stays closed and the IdP's retry converges. Audited, so the revocation that was undone is
 * explained.
 */
export async function afterFailedWrite(ctx: DirectoryContext, userId: string, touch: GateTouch, why: string): Promise<void> {
  if (touch === "none") return;
  try {
    const row = await ctx.db.prepare("SELECT active, version FROM users WHERE id = ? AND idp_id = ?").bind(userId, ctx.idp.id).first<{ active: number; version: number }>();
    if (!row) return; // deleted meanwhile: a closed gate is right
    const active = row.active === 1;
    if ((touch === "closed") !== active) return; // D1 agrees with what we did
    await sessionEffects.setActive(ctx.env, userId, active, row.version);
    await auditStatement(ctx.db, {
      actor: ctx.actor,
      action: active ? "user.gate_reopened" : "user.gate_closed",
      targetType: "user",
      targetId: userId,
      details: { reason: "directory write refused after the session change", error: why },
    }).run();
  } catch (e) {
    // Best effort: if this fails too, a closed gate stays closed (fail closed), and an opened one is
    // still refused by `openSession`, which checks D1's `active` first.
    console.error("gate compensation failed", e instanceof Error ? e.message : String(e));
  }
}
