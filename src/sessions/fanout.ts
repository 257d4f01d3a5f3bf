import { groupsOfUsers } from "../directory/user-store";
import { chunks } from "../lib/chunks";
import { auditStatement } from "../logs/audit";
import { scimErrors } from "../scim/errors";
import { sessionEffects } from "./effects";
import type { GroupRef, IdentityUpdateBehavior } from "./types";

/** Work on many users' session objects, delivered (at least once) through the IDENTITY_CHANGES queue. */
export type IdentityChangeMessage =
  | { type: "groups_changed"; userIds: string[]; groupsVersion: number; behavior: IdentityUpdateBehavior; actor: string }
  | { type: "deprovision"; userIds: string[]; actor: string }
  | { type: "revoke_app"; userIds: string[]; appId: string; actor: string };

/** Up to this many affected users are handled inside the SCIM request; more go through the queue. */
export const INLINE_FANOUT_LIMIT = 100;
/** Users per queue message (a message must stay under 128 KB; a UUID list of 1,000 is ~40 KB). */
export const USERS_PER_MESSAGE = 1000;
/** Messages per `sendBatch` (the batch must stay under 256 KB). */
const MESSAGES_PER_SEND = 5;
/** Durable Object calls in flight at once from one consumer or request. */
const CONCURRENCY = 25;

/** Runs `work` over `items` with at most CONCURRENCY in flight; rejects with the first failure after all settle. */
export async function forEachLimited<T>(items: T[], work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  let failure: unknown;
  const lanes = Array.from({ length: Math.min(CONCURRENCY, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++]!;
      try {
        await work(item);
      } catch (e) {
        failure ??= e;
      }
    }
  });
  await Promise.all(lanes);
  if (failure !== undefined) throw failure;
}

/** Splits a message into queue-sized ones and sends them. */
export async function enqueue(env: Env, message: IdentityChangeMessage): Promise<void> {
  const messages = chunks(message.userIds, USERS_PER_MESSAGE).map((userIds) => ({ ...message, userIds }));
  for (const send of chunks(messages, MESSAGES_PER_SEND)) {
    await env.IDENTITY_CHANGES.sendBatch(send.map((body) => ({ body, contentType: "json" as const })));
  }
}

/** Users' current groups (the snapshot a group change delivers), read with the directory's own query. */
export async function currentGroups(db: D1Database, userIds: string[]): Promise<Map<string, GroupRef[]>> {
  const byUser = await groupsOfUsers(db, userIds);
  return new Map(userIds.map((id) => [id, (byUser.get(id) ?? []).map((g) => ({ id: g.id, name: g.display_name }))]));
}

/** Users among `userIds` who have ever opened a session; only their objects need to hear about group changes. */
export async function usersWithSessions(db: D1Database, userIds: string[]): Promise<string[]> {
  if (userIds.length === 0) return [];
  const statements = chunks(userIds).map((c) => db.prepare(`SELECT DISTINCT user_id FROM session_index WHERE user_id IN (${c.map(() => "?").join(",")})`).bind(...c));
  return (await db.batch(statements)).flatMap((r) => (r.results as { user_id: string }[]).map((row) => row.user_id));
}

/** Applies one message's work to every user in it. Idempotent: a redelivery changes nothing more. */
export async function applyIdentityChange(env: Env, message: IdentityChangeMessage): Promise<void> {
  switch (message.type) {
    case "groups_changed": {
      const targets = await usersWithSessions(env.DB, message.userIds);
      const groups = await currentGroups(env.DB, targets);
      const revokedUsers: string[] = [];
      await forEachLimited(targets, async (userId) => {
        const { revoked } = await sessionEffects.noteGroupsChanged(env, userId, { groupsVersion: message.groupsVersion, behavior: message.behavior, groups: groups.get(userId) ?? [] });
        if (revoked > 0) revokedUsers.push(userId);
      });
      if (revokedUsers.length > 0) {
        await auditStatement(env.DB, { actor: message.actor, action: "sessions.revoke_groups_changed", targetType: "user", details: { behavior: message.behavior, groups_version: message.groupsVersion, users: revokedUsers } }).run();
      }
      return;
    }
    case "deprovision": {
      await forEachLimited(message.userIds, (userId) => sessionEffects.deprovision(env, userId, message.actor));
      await auditStatement(env.DB, { actor: message.actor, action: "sessions.deprovision_connection_users", targetType: "user", details: { users: message.userIds } }).run();
      return;
    }
    case "revoke_app":
      await forEachLimited(message.userIds, (userId) => sessionEffects.revokeApp(env, userId, message.appId, message.actor));
      return;
  }
}


/**
 * Runs a change inline when it touches few users (the SCIM response then means it is done), else
 * through the queue so the response stays fast. If the inline run fails part-way, the whole change
 * is queued (it is idempotent); only if that fails too does the request fail, with a 503 to retry.
 */
export async function dispatchIdentityChange(env: Env, message: IdentityChangeMessage): Promise<"inline" | "queued" | "none"> {
  if (message.userIds.length === 0) return "none";
  try {
    if (message.userIds.length <= INLINE_FANOUT_LIMIT) {
      try {
        await applyIdentityChange(env, message);
        return "inline";
      } catch (e) {
        console.error("inline identity change failed; queueing it", e instanceof Error ? e.message : String(e));
      }
    }
    await enqueue(env, message);
    return "queued";
  } catch (e) {
    console.error("identity change could not be queued", e instanceof Error ? e.message : String(e));
    throw scimErrors.unavailable("Session updates for this change could not be scheduled; retry the request");
  }
}

/** The IDENTITY_CHANGES consumer: each message is acked once applied, else retried (with backoff). */
export async function consumeIdentityChanges(batch: MessageBatch<IdentityChangeMessage>, env: Env): Promise<void> {
  for (const message of batch.messages) {
    try {
      await applyIdentityChange(env, message.body);
      message.ack();
    } catch (e) {
      console.error("identity change failed; will retry", message.body.type, e instanceof Error ? e.message : String(e));
      message.retry({ delaySeconds: Math.min(300, 2 ** message.attempts) });
    }
  }
}
