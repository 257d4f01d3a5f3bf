import { ApiError, apiErrors } from "../http/api-error";
import { resultInfo } from "../http/pagination";
import { chunks } from "../lib/chunks";
import { nowIso } from "../db";
import { auditStatement } from "../logs/audit";
import { dispatchIdentityChange, type IdentityChangeMessage } from "./fanout";

/**
 * The IDENTITY_CHANGES dead-letter queue (wrangler.toml `dead_letter_queue`): a message the consumer
 * failed `max_retries` times lands here. Dropping it would silently leave sessions alive that a
 * deprovisioning or `reauth` change meant to end, so every one becomes an `identity_dead_letters`
 * row plus an audit row, visible in the admin API until an admin re-drives it.
 */

/** Mirrors `max_retries` of the IDENTITY_CHANGES consumer in wrangler.toml: a dead letter was delivered this many times + 1. */
export const IDENTITY_CHANGES_MAX_RETRIES = 10;

/** An `identity_dead_letters` row as D1 returns it. */
interface DeadLetterRow {
  id: string;
  received_at: string;
  message_type: string;
  user_count: number;
  body: string;
  attempts: number;
  resolved_at: string | null;
}

const MESSAGE_TYPES = new Set(["groups_changed", "deprovision", "revoke_app"]);

/** Whether a queue body has the shape of an identity change (the DLQ may hold anything someone sent). */
function isIdentityChange(body: unknown): body is IdentityChangeMessage {
  const b = body as Partial<IdentityChangeMessage> | null;
  return typeof b === "object" && b !== null && MESSAGE_TYPES.has(String(b.type)) && Array.isArray(b.userIds) && b.userIds.every((u) => typeof u === "string");
}

/**
 * The DLQ consumer: one row and one audit entry per message, in one batch. The row id is the queue
 * message id, so a redelivered dead letter is recorded once. A D1 failure retries the message.
 */
export async function consumeDeadLetters(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  for (const message of batch.messages) {
    try {
      const body = message.body;
      const type = isIdentityChange(body) ? body.type : "unknown";
      const userIds = isIdentityChange(body) ? body.userIds : [];
      const insert = await env.DB.prepare(
        `INSERT INTO identity_dead_letters (id, received_at, message_type, user_count, body, attempts)
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
      )
        .bind(message.id, nowIso(), type, userIds.length, JSON.stringify(body ?? null), IDENTITY_CHANGES_MAX_RETRIES + 1)
        .run();
      if (insert.meta.changes === 1) {
        await auditStatement(env.DB, {
          actor: "system:queue",
          action: "identity_change.dead_lettered",
          targetType: "identity_change",
          targetId: message.id,
          details: { type, users: userIds.length, first_users: userIds.slice(0, 20) },
        }).run();
      }
      console.error("identity change dead-lettered", message.id, type, userIds.length);
      message.ack();
    } catch (e) {
      console.error("dead letter could not be recorded; will retry", e instanceof Error ? e.message : String(e));
      message.retry({ delaySeconds: Math.min(300, 2 ** message.attempts) });
    }
  }
}

/** The admin view of a dead letter (the body's user ids included: ids and actors only, no secrets). */
function render(row: DeadLetterRow) {
  return {
    id: row.id,
    received_at: row.received_at,
    type: row.message_type,
    user_count: row.user_count,
    attempts: row.attempts,
    resolved_at: row.resolved_at,
    message: JSON.parse(row.body) as unknown,
  };
}

/** `GET …/identity_changes/dead_letters`: newest first, `status=unresolved|resolved|all` (default unresolved), paginated. */
export async function listDeadLetters(db: D1Database, q: { page: number; perPage: number; status: "unresolved" | "resolved" | "all" }) {
  const where = q.status === "all" ? "" : q.status === "resolved" ? "WHERE resolved_at IS NOT NULL" : "WHERE resolved_at IS NULL";
  const [rows, count] = await db.batch([
    db.prepare(`SELECT * FROM identity_dead_letters ${where} ORDER BY received_at DESC, id DESC LIMIT ? OFFSET ?`).bind(q.perPage, (q.page - 1) * q.perPage),
    db.prepare(`SELECT count(*) AS n FROM identity_dead_letters ${where}`),
  ]);
  const result = (rows!.results as unknown as DeadLetterRow[]).map(render);
  const total = (count!.results[0] as { n: number }).n;
  return { result, result_info: resultInfo({ page: q.page, per_page: q.perPage }, result.length, total) };
}

async function findDeadLetter(db: D1Database, id: string): Promise<DeadLetterRow> {
  const row = await db.prepare("SELECT * FROM identity_dead_letters WHERE id = ?").bind(id).first<DeadLetterRow>();
  if (!row) throw apiErrors.notFound("Dead letter");
  return row;
}

/** `GET …/dead_letters/:id`. */
export async function getDeadLetter(db: D1Database, id: string) {
  return render(await findDeadLetter(db, id));
}

/**
 * `POST …/dead_letters/:id/redrive`: applies the message again (inline for up to 100 users, else
 * through the queue, as any identity change). Every change is idempotent on the session objects, so
 * a second redrive repeats nothing harmful; a resolved row answers with `redriven: false`. A
 * `deprovision` skips users D1 now holds as active (reactivated since; closing their gate again
 * would lock out a user the IdP wants in).
 */
export async function redriveDeadLetter(env: Env, id: string, actor: string) {
  const row = await findDeadLetter(env.DB, id);
  if (row.resolved_at !== null) return { dead_letter: render(row), redriven: false, mode: "none" as const };
  const body = JSON.parse(row.body) as unknown;
  if (!isIdentityChange(body)) throw apiErrors.invalid("This dead letter is not an identity change and cannot be re-driven");
  let message: IdentityChangeMessage = body;
  if (body.type === "deprovision" && body.userIds.length > 0) {
    const results = await env.DB.batch(chunks(body.userIds).map((c) => env.DB.prepare(`SELECT id FROM users WHERE active = 1 AND id IN (${c.map(() => "?").join(",")})`).bind(...c)));
    const active = new Set(results.flatMap((r) => (r.results as { id: string }[]).map((u) => u.id)));
    message = { ...body, userIds: body.userIds.filter((u) => !active.has(u)) };
  }
  let mode: Awaited<ReturnType<typeof dispatchIdentityChange>>;
  try {
    mode = await dispatchIdentityChange(env, message);
  } catch {
    // Neither applied nor queued: the row stays unresolved, and the admin can try again.
    throw new ApiError(503, 5000, "The change could not be applied or queued; retry the redrive");
  }
  const resolvedAt = nowIso();
  await env.DB.batch([
    env.DB.prepare("UPDATE identity_dead_letters SET resolved_at = ? WHERE id = ? AND resolved_at IS NULL").bind(resolvedAt, id),
    auditStatement(env.DB, { actor, action: "identity_change.redrive", targetType: "identity_change", targetId: id, details: { type: body.type, users: message.userIds.length, mode } }),
  ]);
  return { dead_letter: render({ ...row, resolved_at: resolvedAt }), redriven: true, mode };
}
