import { applyIdentityChange, enqueue, INLINE_FANOUT_LIMIT, type IdentityChangeMessage } from "./fanout";

/**
 * Draining `identity_outbox` rows: session work a directory write recorded in its own D1 batch.
 * A row is deleted once its work is done (inline, or by the IDENTITY_CHANGES consumer); the cron
 * re-drives any row whose `next_attempt_at` has passed, so a failed dispatch can delay a revocation
 * but never lose it.
 */

/** An `identity_outbox` row as D1 returns it. */
export interface OutboxRow {
  id: string;
  kind: string;
  idp_id: string | null;
  payload: string;
  attempts: number;
}

/** Once handed to the queue, a row is left to it (retries with backoff, then the dead-letter queue) this long. */
const QUEUED_GRACE_MS = 15 * 60_000;
/** Rows one cron run re-drives (the rest wait for the next run). */
const REDRIVE_BATCH = 25;
/** The cron's back-off after failed attempts: 1, 2, 4 … 60 minutes. */
const redriveDelayMs = (attempts: number) => Math.min(60, 2 ** attempts) * 60_000;

/** The message that does a row's work for `userIds`; undefined for a kind this code does not know. */
function messageFor(row: OutboxRow, userIds: string[]): IdentityChangeMessage | undefined {
  const p = JSON.parse(row.payload) as Record<string, unknown>;
  const actor = typeof p.actor === "string" ? p.actor : "system";
  switch (row.kind) {
    case "groups_changed": {
      const behavior = p.behavior === "reauth" || p.behavior === "automatic" || p.behavior === "no_action" ? p.behavior : "reauth";
      return { type: "groups_changed", outboxId: row.id, userIds, behavior, actor };
    }
    case "deprovision":
      return { type: "deprovision", outboxId: row.id, userIds, actor };
    case "revoke_app":
      return typeof p.app_id === "string" ? { type: "revoke_app", outboxId: row.id, userIds, appId: p.app_id, actor } : undefined;
    default:
      return undefined;
  }
}

async function outboxUsers(db: D1Database, outboxId: string): Promise<string[]> {
  const r = await db.prepare("SELECT user_id FROM identity_outbox_users WHERE outbox_id = ? ORDER BY user_id").bind(outboxId).all<{ user_id: string }>();
  return r.results.map((x) => x.user_id);
}

/** Records a failed dispatch on the row (`countAttempt`: the cron's claim has not counted it already). */
async function noteFailure(db: D1Database, outboxId: string, error: unknown, countAttempt: boolean): Promise<void> {
  const message = (error instanceof Error ? error.message : String(error)).slice(0, 500);
  console.error("identity outbox dispatch failed; the cron will re-drive it", outboxId, message);
  await db
    .prepare(`UPDATE identity_outbox SET ${countAttempt ? "attempts = attempts + 1, " : ""}last_error = ? WHERE id = ?`)
    .bind(message, outboxId)
    .run()
    .catch(() => undefined);
}

/**
 * Does a row's work: inline when it names at most INLINE_FANOUT_LIMIT users (`knownUsers`, when the
 * caller already read them, saves a round trip), otherwise through the queue. If the inline run
 * fails, the work is queued; if that fails too, the row stays for the cron and this returns
 * "pending" (the change itself is committed: an IdP retry would find nothing left to change).
 */
export async function drainOutbox(env: Env, row: OutboxRow, knownUsers?: string[], fromCron = false): Promise<"inline" | "queued" | "pending" | "none"> {
  const userIds = knownUsers ?? (await outboxUsers(env.DB, row.id));
  const whole = messageFor(row, userIds);
  if (userIds.length === 0 || whole === undefined) {
    if (userIds.length === 0) await env.DB.prepare("DELETE FROM identity_outbox WHERE id = ?").bind(row.id).run();
    return "none";
  }
  if (userIds.length <= INLINE_FANOUT_LIMIT) {
    try {
      await applyIdentityChange(env, whole);
      return "inline";
    } catch (e) {
      console.error("inline identity change failed; queueing it", e instanceof Error ? e.message : String(e));
    }
  }
  try {
    await enqueue(env, whole);
  } catch (e) {
    await noteFailure(env.DB, row.id, e, !fromCron);
    return "pending";
  }
  // Queued: the cron leaves the row to the queue's own retries for a while (a re-drive meanwhile
  // would only repeat idempotent work).
  await env.DB.prepare("UPDATE identity_outbox SET next_attempt_at = ? WHERE id = ?")
    .bind(new Date(Date.now() + QUEUED_GRACE_MS).toISOString(), row.id)
    .run()
    .catch(() => undefined);
  return "queued";
}

/**
 * The cron's re-drive: every row whose `next_attempt_at` has passed is claimed (attempts + 1, the
 * next attempt pushed back) and drained again. Safe to overlap with the queue or another run:
 * delivery is idempotent (per-user versions), and a row is deleted only when its users are done.
 */
export async function redriveOutbox(env: Env, now = Date.now()): Promise<{ rows: number; pending: number }> {
  const due = await env.DB.prepare(
    "SELECT id, kind, idp_id, payload, attempts FROM identity_outbox WHERE next_attempt_at <= ? AND kind <> 'staging' ORDER BY next_attempt_at LIMIT ?",
  )
    .bind(new Date(now).toISOString(), REDRIVE_BATCH)
    .all<OutboxRow>();
  let pending = 0;
  for (const row of due.results) {
    const claimed = await env.DB.prepare("UPDATE identity_outbox SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ? AND attempts = ?")
      .bind(new Date(now + redriveDelayMs(row.attempts)).toISOString(), row.id, row.attempts)
      .run();
    if (claimed.meta.changes !== 1) continue; // another run took it
    if ((await drainOutbox(env, row, undefined, true)) === "pending") pending++;
  }
  return { rows: due.results.length, pending };
}
