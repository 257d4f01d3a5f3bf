import { sql } from "drizzle-orm";
import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

/** One row per IdP connection; its SCIM secret is stored only as a SHA-256 hex digest. */
export const identityProviders = sqliteTable("identity_providers", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  /** `azureAD` | `okta` | `oidc` (Cloudflare's identity provider types). */
  type: text("type").notNull(),
  /** Non-secret OIDC settings (client_id, issuer, …) as JSON. */
  config: text("config").notNull().default("{}"),
  /** The OIDC `client_secret`, AES-GCM encrypted under ACCESS_SECRETS_KEY (`src/lib/secret-box.ts`); write-only. */
  clientSecretCiphertext: text("client_secret_ciphertext"),
  scimEnabled: integer("scim_enabled", { mode: "boolean" }).notNull().default(true),
  scimSecretHash: text("scim_secret_hash").notNull(),
  userDeprovision: integer("user_deprovision", { mode: "boolean" }).notNull().default(true),
  seatDeprovision: integer("seat_deprovision", { mode: "boolean" }).notNull().default(false),
  /** `automatic` | `reauth` | `no_action` */
  identityUpdateBehavior: text("identity_update_behavior").notNull().default("automatic"),
  createdAt: text("created_at").notNull().default(sql`(strftime('%Y-%m-%dT%H:%M:%fZ','now'))`),
  updatedAt: text("updated_at").notNull().default(sql`(strftime('%Y-%m-%dT%H:%M:%fZ','now'))`),
});
