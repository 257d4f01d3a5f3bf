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
}

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
 * Deprovisioning and session revocation as one use case (DESIGN.md "Deprovisioning"). Runs after
 * the new state is computed and BEFORE D1 is written: a deactivation or deletion revokes every
 * session first (fail closed), so the IdP's 2xx means no session of the user is honoured again.
 * Returns audit-log inserts for the caller's write batch.
 */
export async function beforeUserWrite(ctx: DirectoryContext, t: UserTransition): Promise<D1PreparedStatement[]> {
  const { env, idp } = ctx;
  const leaving = t.deleted === true || (t.wasActive && !t.isActive);
  if (leaving) {
    const reason = t.deleted ? "scim_delete" : "scim_deactivate";
    if (idp.userDeprovision) {
      const { revoked } = await failClosed(() => sessionEffects.deprovision(env, t.userId, ctx.actor));
      return [auditStatement(ctx.db, { actor: ctx.actor, action: "sessions.revoke_all", targetType: "user", targetId: t.userId, details: { reason, revoked, email: t.email, setting: "user_deprovision" } })];
    }
    // user_deprovision off (Cloudflare's behaviour): existing sessions run out; new logins are refused.
    await failClosed(() => sessionEffects.setActive(env, t.userId, false));
    return [auditStatement(ctx.db, { actor: ctx.actor, action: "user.deactivate", targetType: "user", targetId: t.userId, details: { reason, email: t.email, sessions: "kept (user_deprovision off)" } })];
  }
  if (!t.wasActive && t.isActive) {
    // Reactivation opens the gate for new logins; sessions revoked earlier stay revoked.
    await failClosed(() => sessionEffects.setActive(env, t.userId, true));
    return [auditStatement(ctx.db, { actor: ctx.actor, action: "user.reactivate", targetType: "user", targetId: t.userId, details: { email: t.email } })];
  }
  return [];
}
