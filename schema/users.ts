import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { identityProviders } from "./identity-providers";

/**
 * SCIM users, scoped to an IdP connection. Filterable core attributes are real, indexed columns;
 * `resource` keeps the full SCIM representation (enterprise extension, unknown extensions) for round-trips.
 */
export const users = sqliteTable(
  "users",
  {
    id: text("id").primaryKey(),
    idpId: text("idp_id").notNull().references(() => identityProviders.id, { onDelete: "cascade" }),
    externalId: text("external_id"),
    userName: text("user_name").notNull(),
    /** RFC 7643 §4.1.1: userName is caseExact=false, unique per service provider (here: per connection). */
    userNameLower: text("user_name_lower").notNull(),
    displayName: text("display_name"),
    givenName: text("given_name"),
    familyName: text("family_name"),
    /** Primary (or first) email, lower-cased. */
    email: text("email"),
    active: integer("active", { mode: "boolean" }).notNull().default(true),
    resource: text("resource").notNull(),
    version: integer("version").notNull().default(1),
    /**
     * Per-user group-membership counter, bumped in the same D1 batch as every membership change that
     * touches the user. It is what the user's Durable Object orders group changes by: two changes can
     * never carry the same number (a clock could), and a login passes the value it read.
     */
    groupsVersion: integer("groups_version").notNull().default(0),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [
    uniqueIndex("users_idp_user_name").on(t.idpId, t.userNameLower),
    // RFC 7643 §3.1 does not make externalId unique, and Microsoft's SCIM test collection creates
    // several resources with one literal externalId: indexed for lookups, never unique.
    index("users_idp_external_id").on(t.idpId, t.externalId),
    index("users_idp_email").on(t.idpId, t.email),
    // `revoke_user {email}` looks a person up across every connection.
    index("users_email").on(t.email),
    index("users_user_name_lower").on(t.userNameLower),
    index("users_idp_display_name").on(t.idpId, t.displayName),
    index("users_idp_updated").on(t.idpId, t.updatedAt),
    index("users_idp_created").on(t.idpId, t.createdAt, t.id),
  ],
);

/** emails[] of each user, one row per address, so `emails[type eq "work" and value co "…"]` is a join, not a JSON scan. */
export const userEmails = sqliteTable(
  "user_emails",
  {
    userId: text("user_id").notNull().references(() => users.id, { onDelete: "cascade" }),
    idpId: text("idp_id").notNull(),
    position: integer("position").notNull(),
    value: text("value").notNull(),
    valueLower: text("value_lower").notNull(),
    type: text("type"),
    primary: integer("is_primary", { mode: "boolean" }).notNull().default(false),
  },
  (t) => [primaryKey({ columns: [t.userId, t.position] }), index("user_emails_idp_value").on(t.idpId, t.valueLower)],
);
