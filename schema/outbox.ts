import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

/**
 * Session work a directory write owes (group-change fan-out, connection deprovisioning), recorded
 * in the SAME D1 batch as the write itself. A row is deleted once its work is done, inline or by
 * the IDENTITY_CHANGES consumer; the daily cron re-drives any row left behind, so a failed
 * dispatch can delay revocations but never lose them.
 */
export const identityOutbox = sqliteTable(
  "identity_outbox",
  {
    id: text("id").primaryKey(),
    /** `groups_changed` | `deprovision` | `revoke_app` */
    kind: text("kind").notNull(),
    /** The connection whose write produced the work (its `identity_update_behavior` applies). */
    idpId: text("idp_id"),
    /** Kind-specific fields as JSON (behavior, actor, app id …). */
    payload: text("payload").notNull().default("{}"),
    createdAt: text("created_at").notNull(),
    /** Dispatch attempts so far (inline, queue, cron). */
    attempts: integer("attempts").notNull().default(0),
    /** Not re-driven by the cron before this instant (ISO 8601). */
    nextAttemptAt: text("next_attempt_at").notNull(),
    lastError: text("last_error"),
  },
  (t) => [index("identity_outbox_next_attempt").on(t.nextAttemptAt)],
);

/** The users one outbox row touches (computed in SQL inside the write's own transaction). */
export const identityOutboxUsers = sqliteTable(
  "identity_outbox_users",
  {
    outboxId: text("outbox_id").notNull().references(() => identityOutbox.id, { onDelete: "cascade" }),
    /** No foreign key: a deleted user's revocation must still be delivered. */
    userId: text("user_id").notNull(),
  },
  (t) => [primaryKey({ columns: [t.outboxId, t.userId] })],
);

/**
 * Messages the IDENTITY_CHANGES queue gave up on (its dead-letter queue's consumer writes them
 * here, with an audit row), visible in the admin API until an admin re-drives or dismisses them.
 */
export const identityDeadLetters = sqliteTable(
  "identity_dead_letters",
  {
    id: text("id").primaryKey(),
    receivedAt: text("received_at").notNull(),
    /** The message's `type` (`groups_changed`, `deprovision`, `revoke_app`). */
    messageType: text("message_type").notNull(),
    userCount: integer("user_count").notNull(),
    /** The message body as JSON (user ids and actors only: no secrets). */
    body: text("body").notNull(),
    attempts: integer("attempts").notNull(),
    /** Set when an admin re-drives or dismisses it. */
    resolvedAt: text("resolved_at"),
  },
  (t) => [index("identity_dead_letters_received").on(t.receivedAt)],
);
