import { index, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/**
 * API tokens for scripts (`Authorization: Bearer zt_…`), created by an admin and shown once. Only the
 * token's SHA-256 is stored; a presented token is found by that hash. `scope` is `read` (GET/HEAD
 * only) or `write`. A token is refused once `revoked_at` is set or `expires_at` has passed.
 */
export const apiTokens = sqliteTable(
  "api_tokens",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    /** SHA-256 of the whole token, lower-case hex. */
    tokenHash: text("token_hash").notNull(),
    /** `read` | `write` */
    scope: text("scope").notNull(),
    /** The audit actor that created it (`admin:token`, `dashboard:<user id>`, `token:<id>`). */
    createdBy: text("created_by").notNull(),
    createdAt: text("created_at").notNull(),
    /** Updated at most once a minute (see src/auth/api-tokens.ts). */
    lastUsedAt: text("last_used_at"),
    expiresAt: text("expires_at"),
    revokedAt: text("revoked_at"),
  },
  (t) => [uniqueIndex("api_tokens_token_hash").on(t.tokenHash), index("api_tokens_created_at").on(t.createdAt)],
);
