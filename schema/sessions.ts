import { index, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { users } from "./users";

/**
 * Which users have ever opened a session, and for which app or device. The Durable Object is the
 * authority on the sessions themselves; this index only answers "whose objects must hear about
 * this?" — group changes skip users who never signed in (their next login reads D1 afresh), and
 * `apps/:id/revoke_tokens` finds the users of one app without visiting every object.
 */
export const sessionIndex = sqliteTable(
  "session_index",
  {
    userId: text("user_id").notNull().references(() => users.id, { onDelete: "cascade" }),
    /** `access:<app id>`, `access:*` (org session) or `gateway:<device id>`. */
    scope: text("scope").notNull(),
    lastOpenedAt: text("last_opened_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.scope] }), index("session_index_scope").on(t.scope)],
);
