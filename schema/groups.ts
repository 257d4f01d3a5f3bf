import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { identityProviders } from "./identity-providers";
import { users } from "./users";

/** SCIM groups, scoped to an IdP connection. Members live in `group_members`, never in `resource`. */
export const groups = sqliteTable(
  "groups",
  {
    id: text("id").primaryKey(),
    idpId: text("idp_id").notNull().references(() => identityProviders.id, { onDelete: "cascade" }),
    externalId: text("external_id"),
    displayName: text("display_name").notNull(),
    displayNameLower: text("display_name_lower").notNull(),
    resource: text("resource").notNull(),
    version: integer("version").notNull().default(1),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [
    uniqueIndex("groups_idp_display_name").on(t.idpId, t.displayNameLower),
    // RFC 7643 §3.1: externalId is not unique (see users.ts).
    index("groups_idp_external_id").on(t.idpId, t.externalId),
    index("groups_idp_updated").on(t.idpId, t.updatedAt),
    index("groups_idp_created").on(t.idpId, t.createdAt, t.id),
  ],
);

/** Membership as a join table: adding or removing one member is one indexed row write, whatever the group's size. */
export const groupMembers = sqliteTable(
  "group_members",
  {
    groupId: text("group_id").notNull().references(() => groups.id, { onDelete: "cascade" }),
    userId: text("user_id").notNull().references(() => users.id, { onDelete: "cascade" }),
    /** The member `display` the client sent (RFC 7643 §2.4: immutable, set by the client); null when it sent none. */
    display: text("display"),
  },
  (t) => [primaryKey({ columns: [t.groupId, t.userId] }), index("group_members_user").on(t.userId)],
);
