import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { users } from "./users";

/**
 * Gateway devices: one DoH token each, bound to a user and to a `gateway` session in that user's
 * Durable Object (the authority: deprovisioning, `revoke_user` and device deletion end it there).
 * The token itself is shown once and stored only as its SHA-256 hex digest.
 */
export const gatewayDevices = sqliteTable(
  "gateway_devices",
  {
    id: text("id").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    tokenHash: text("token_hash").notNull(),
    /** The `gateway` session in the user's object that this device's token rides on. */
    sessionId: text("session_id").notNull(),
    /** `admin` | `self_service` | `service_token:<id>`: how the token was issued. */
    enrolledBy: text("enrolled_by").notNull(),
    createdAt: text("created_at").notNull(),
    expiresAt: text("expires_at").notNull(),
    revokedAt: text("revoked_at"),
  },
  (t) => [uniqueIndex("gateway_devices_token_hash").on(t.tokenHash), index("gateway_devices_user").on(t.userId)],
);

/** Gateway DNS and HTTP rules (Cloudflare's `gateway/rules` shape); expressions are parsed when saved. */
export const gatewayRules = sqliteTable(
  "gateway_rules",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    /** `allow` | `block` | `override` */
    action: text("action").notNull(),
    enabled: integer("enabled", { mode: "boolean" }).notNull().default(true),
    precedence: integer("precedence").notNull(),
    /** JSON array: `["dns"]` or `["http"]`. */
    filters: text("filters").notNull(),
    /** Cloudflare expression strings ("" when the rule has none). */
    traffic: text("traffic").notNull().default(""),
    identity: text("identity").notNull().default(""),
    /** JSON: `{override_ips?, block_page_enabled?}`. */
    ruleSettings: text("rule_settings").notNull().default("{}"),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [uniqueIndex("gateway_rules_precedence").on(t.precedence)],
);

/** The DNS activity log (bounded retention, pruned by the daily cron). */
export const gatewayDnsLog = sqliteTable(
  "gateway_dns_log",
  {
    id: text("id").primaryKey(),
    at: text("at").notNull(),
    userId: text("user_id"),
    deviceId: text("device_id"),
    queryName: text("query_name").notNull(),
    queryType: text("query_type").notNull(),
    /** `allowed` | `blocked` | `overridden` | `servfail` */
    decision: text("decision").notNull(),
    ruleId: text("rule_id"),
  },
  (t) => [index("gateway_dns_log_at").on(t.at), index("gateway_dns_log_user_at").on(t.userId, t.at), index("gateway_dns_log_device_at").on(t.deviceId, t.at)],
);

/** Access service tokens (`Cf-Access-Client-Id` / `Cf-Access-Client-Secret`); the secret is kept as SHA-256 only. */
export const accessServiceTokens = sqliteTable(
  "access_service_tokens",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    clientId: text("client_id").notNull(),
    clientSecretHash: text("client_secret_hash").notNull(),
    createdAt: text("created_at").notNull(),
    expiresAt: text("expires_at").notNull(),
    lastSeenAt: text("last_seen_at"),
  },
  (t) => [uniqueIndex("access_service_tokens_client_id").on(t.clientId)],
);
