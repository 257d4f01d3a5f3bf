import { groupsByUser, groupsOfUsersStatement } from "../db/memberships";
import { chunks } from "../lib/chunks";
import { auditStatement } from "../logs/audit";
import { scimErrors } from "../scim/errors";
import { sessionEffects } from "./effects";
import type { GroupRef, IdentityUpdateBehavior } from "./types";

/**
 * Work on many users' session objects, delivered (at least once) through the IDENTITY_CHANGES queue.
 * A `groups_changed` message carries no version: each user's `users.groups_version` is read at
 * delivery time (monotonic per user, so redeliveries and reorderings are harmless). With
 * `outboxId`, the delivered users are struck off that `identity_outbox` row.
 */
export type IdentityChangeMessage =
  | {
      type: "groups_changed";
      userIds: string[];
      behavior: IdentityUpdateBehavior;
      actor: string;
      outboxId?: string;
      /** Clock-based version of messages queued before per-user versions; ignored. */
      groupsVersion?: number;
    }
  | { type: "deprovision"; userIds: string[]; actor: string; outboxId?: string }
  | { type: "revoke_app"; userIds: string[]; appId: string; actor: string; outboxId?: string };

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

/**
 * The users among `userIds` who have ever opened a session, with their current groups version and
 * groups, read in ONE batch (one transaction): the version delivered always matches the groups.
 */
async function groupSnapshots(db: D1Database, userIds: string[]): Promise<{ id: string; version: number; groups: GroupRef[] }[]> {
  const statements = chunks(userIds).flatMap((c) => {
    const withSessions = `SELECT u.id FROM users u WHERE u.id IN (${c.map(() => "?").join(",")}) AND EXISTS (SELECT 1 FROM session_index s WHERE s.user_id = u.id)`;
    return [
      db.prepare(`SELECT id, groups_version FROM users WHERE id IN (${withSessions})`).bind(...c),
      groupsOfUsersStatement(db, { sql: withSessions, params: c }),
    ];
  });
  if (statements.length === 0) return [];
  const results = await db.batch(statements);
  const rows = results.filter((_, i) => i % 2 === 0).flatMap((r) => r.results as { id: string; groups_version: number }[]);
  const groups = groupsByUser(
    rows.map((r) => r.id),
    results.filter((_, i) => i % 2 === 1).flatMap((r) => r.results),
  );
  return rows.map((r) => ({ id: r.id, version: r.groups_version, groups: (groups.get(r.id) ?? []).map((g) => ({ id: g.id, name: g.display_name })) }));
}

/**
 * Delivers a group change to the session objects of `userIds` (users who never signed in are
 * skipped: their next login reads D1 afresh; deleted users are skipped: deletion deprovisions them).
 */
async function deliverGroupsChanged(env: Env, message: Extract<IdentityChangeMessage, { type: "groups_changed" }>): Promise<void> {
  const targets = await groupSnapshots(env.DB, message.userIds);
  const revokedUsers: string[] = [];
  await forEachLimited(targets, async ({ id, version, groups }) => {
    const { revoked } = await sessionEffects.noteGroupsChanged(env, id, { groupsVersion: version, behavior: message.behavior, groups });
    if (revoked > 0) revokedUsers.push(id);
  });
  if (revokedUsers.length > 0) {
    await auditStatement(env.DB, {
      actor: message.actor,
      action: "sessions.revoke_groups_changed",
      targetType: "user",
      details: { behavior: message.behavior, users: revokedUsers, ...(message.outboxId ? { outbox_id: message.outboxId } : {}) },
    }).run();
  }
}

/** Strikes delivered users off an outbox row, and deletes the row once none is left. */
export async function completeOutboxUsers(db: D1Database, outboxId: string, userIds: string[]): Promise<void> {
  await db.batch([
    ...chunks(userIds).map((c) => db.prepare(`DELETE FROM identity_outbox_users WHERE outbox_id = ? AND user_id IN (${c.map(() => "?").join(",")})`).bind(outboxId, ...c)),
    db.prepare("DELETE FROM identity_outbox WHERE id = ? AND NOT EXISTS (SELECT 1 FROM identity_outbox_users WHERE outbox_id = ?)").bind(outboxId, outboxId),
  ]);
}

/** Applies one message's work to every user in it. Idempotent: a redelivery changes nothing more. */
export async function applyIdentityChange(env: Env, message: IdentityChangeMessage): Promise<void> {
  switch (message.type) {
    case "groups_changed":
      await deliverGroupsChanged(env, message);
      break;
    case "deprovision": {
      await forEachLimited(message.userIds, (userId) => sessionEffects.deprovision(env, userId, message.actor));
      await auditStatement(env.DB, { actor: message.actor, action: "sessions.deprovision_connection_users", targetType: "user", details: { users: message.userIds } }).run();
      break;
    }
    case "revoke_app":
      await forEachLimited(message.userIds, (userId) => sessionEffects.revokeApp(env, userId, message.appId, message.actor));
      break;
  }
  if (message.outboxId !== undefined) await completeOutboxUsers(env.DB, message.outboxId, message.userIds);
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
