// Which IdP connections a person may sign in to an app with.
import { toConnectionRow } from "../../auth/scim-secret";
import type { IdentityProviderRow } from "../../db";

/** A connection can log people in once it has an OIDC client (Cloudflare's `config.client_id`). */
function canLogIn(row: IdentityProviderRow): boolean {
  try {
    const config = JSON.parse(row.config) as { client_id?: unknown };
    return typeof config.client_id === "string" && config.client_id !== "";
  } catch {
    return false;
  }
}

/** The connections allowed (an app's `allowed_idps`; every connection when empty) that can log people in, oldest first. */
export async function loginConnections(db: D1Database, allowedIdps: string[]): Promise<IdentityProviderRow[]> {
  const rows = await db.prepare("SELECT * FROM identity_providers ORDER BY created_at, id").all<Record<string, unknown>>();
  const allowed = new Set(allowedIdps);
  return rows.results.map(toConnectionRow).filter((r) => (allowed.size === 0 || allowed.has(r.id)) && canLogIn(r));
}

/** One connection by id, or null. */
export async function connectionById(db: D1Database, id: string): Promise<IdentityProviderRow | null> {
  const row = await db.prepare("SELECT * FROM identity_providers WHERE id = ?").bind(id).first<Record<string, unknown>>();
  return row ? toConnectionRow(row) : null;
}
