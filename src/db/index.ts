import { drizzle } from "drizzle-orm/d1";
import * as schema from "../../schema";
import type { identityProviders } from "../../schema";

/** A drizzle handle over the Worker's D1 binding. */
export function database(env: Env) {
  return drizzle(env.DB, { schema });
}

export type Database = ReturnType<typeof database>;

/** One IdP connection as D1 returns it (shared by SCIM authentication, the directory and the admin API). */
export type IdentityProviderRow = typeof identityProviders.$inferSelect;

/** ISO 8601 timestamp with milliseconds, the one format every `*_at` column uses (sortable as text). */
export function nowIso(): string {
  return new Date().toISOString();
}
