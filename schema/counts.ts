import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { identityProviders } from "./identity-providers";

/**
 * Users and groups per connection, kept exact by triggers (migration 0002) in the same
 * transaction as every insert and delete, so an unfiltered SCIM list answers `totalResults`
 * without counting 100k rows.
 */
export const directoryCounts = sqliteTable("directory_counts", {
  idpId: text("idp_id")
    .primaryKey()
    .references(() => identityProviders.id, { onDelete: "cascade" }),
  users: integer("users").notNull().default(0),
  groups: integer("groups").notNull().default(0),
});
