import { INLINE_FANOUT_LIMIT } from "../sessions/fanout";
import { drainOutbox } from "../sessions/outbox";
import type { IdentityUpdateBehavior } from "../sessions/types";
import type { DirectoryContext } from "./context";
import { GROUPS_CHANGED, GroupWrite, type WriteScope } from "./group-writes";

/**
 * Whether a group write keeps its outbox row for the session fan-out. Under `no_action` nothing is
 * delivered (sessions keep their groups until they end); the users' `groups_version` still moves.
 */
export function tracksMembership(ctx: DirectoryContext): boolean {
  return ctx.idp.identityUpdateBehavior !== "no_action";
}

/** Starts the statements of one group write, its outbox row first (see group-writes.ts). */
export function startGroupWrite(ctx: DirectoryContext, scope: WriteScope, now: string, prelude: D1PreparedStatement[] = []): GroupWrite {
  const behavior = ctx.idp.identityUpdateBehavior as IdentityUpdateBehavior;
  return new GroupWrite(ctx, scope, { behavior, actor: ctx.actor, group_id: scope.groupId }, now, prelude);
}

/** Closes a group write with the statement whose `changes` decides it (`UPDATE groups` or `DELETE`). */
export function finishGroupWrite(ctx: DirectoryContext, write: GroupWrite, groupStatement?: D1PreparedStatement): D1PreparedStatement[] {
  write.finish(groupStatement, tracksMembership(ctx), INLINE_FANOUT_LIMIT);
  return write.statements;
}

/**
 * Applies the connection's `identity_update_behavior` to the users a committed group write
 * recorded: for `reauth` their sessions are revoked, for `automatic` the next session check returns
 * the new groups. Up to INLINE_FANOUT_LIMIT users are done before the SCIM response; more go
 * through the queue. A failure leaves the outbox row for the cron: never lost.
 */
export async function afterGroupWrite(ctx: DirectoryContext, write: GroupWrite, results: D1Result[]): Promise<void> {
  if (write.pendingAt < 0) return;
  const pending = (results[write.pendingAt]?.results ?? []) as { user_id: string }[];
  if (pending.length === 0) return; // nobody's membership changed: the row was deleted in the batch
  const row = { id: write.outboxId, kind: GROUPS_CHANGED, idp_id: ctx.idp.id, payload: JSON.stringify(write.payload), attempts: 0 };
  await drainOutbox(ctx.env, row, pending.length <= INLINE_FANOUT_LIMIT ? pending.map((p) => p.user_id) : undefined);
}
