// The live directory as the policy evaluator sees it: a SCIM user's email, groups and connection,
// and the login-time match of an IdP identity to exactly one user of ONE connection.
import type { PolicyIdentity } from "./policy/evaluate";

/** The evaluator's identity plus what login and the proxy need about the directory user. */
export interface DirectoryIdentity extends PolicyIdentity {
  userId: string;
  userName: string;
  displayName: string | null;
  active: boolean;
  /** `users.groups_version`: bumped with every membership change of the user. */
  groupsVersion: number;
}

interface UserRow {
  id: string;
  idp_id: string;
  user_name: string;
  display_name: string | null;
  email: string | null;
  active: number;
  groups_version: number;
  scim_enabled: number;
}

/**
 * A directory user as a `PolicyIdentity` (email: the primary email, else userName; groups: their SCIM
 * groups in their connection), read in one D1 batch. Null when the user does not exist.
 */
export async function directoryIdentity(db: D1Database, userId: string): Promise<DirectoryIdentity | null> {
  const [users, groups] = await db.batch([
    db
      .prepare(
        `SELECT u.id, u.idp_id, u.user_name, u.display_name, u.email, u.active, u.groups_version, ip.scim_enabled
         FROM users u JOIN identity_providers ip ON ip.id = u.idp_id WHERE u.id = ?`,
      )
      .bind(userId),
    db
      .prepare("SELECT g.id, g.external_id, g.display_name FROM group_members gm JOIN groups g ON g.id = gm.group_id WHERE gm.user_id = ? ORDER BY g.display_name_lower, g.id")
      .bind(userId),
  ]);
  const u = users?.results[0] as UserRow | undefined;
  if (!u) return null;
  const rows = (groups?.results ?? []) as { id: string; external_id: string | null; display_name: string }[];
  return {
    userId: u.id,
    userName: u.user_name,
    displayName: u.display_name,
    active: u.active === 1,
    groupsVersion: u.groups_version,
    // `users.email` is the primary (else first) email, lower-cased when the user was written.
    email: u.email ?? u.user_name,
    idpId: u.idp_id,
    groups: rows.map((g) => ({ id: g.id, externalId: g.external_id, name: g.display_name })),
    scimEnabled: u.scim_enabled === 1,
  };
}

/** A login's directory match: one user, or several equally good ones (refused, never guessed). */
export type DirectoryMatch =
  | { id: string; active: boolean; ambiguous: false }
  | { id: null; active: false; ambiguous: true; candidates: string[] };

/**
 * The user of connection `idpId` that `login` (an IdP's email or username claim) names,
 * case-insensitively: an exact userName match first (userName is unique per connection,
 * RFC 7643 §4.1.1), else the user whose primary email it is. Two users sharing that primary email
 * are ambiguous: the match is refused (`ambiguous: true`, `active: false`) rather than guessed.
 * Only `idpId`'s users are considered: a login never reaches another connection's directory.
 */
export async function findDirectoryUser(db: D1Database, idpId: string, login: string): Promise<DirectoryMatch | null> {
  const needle = login.trim().toLowerCase();
  if (needle === "") return null;
  const rows = await db
    .prepare(
      `SELECT id, active, CASE WHEN user_name_lower = ? THEN 1 ELSE 2 END AS tier FROM users
       WHERE idp_id = ? AND (user_name_lower = ? OR email = ?) ORDER BY tier, id LIMIT 10`,
    )
    .bind(needle, idpId, needle, needle)
    .all<{ id: string; active: number; tier: number }>();
  const best = rows.results[0];
  if (!best) return null;
  const sameTier = rows.results.filter((r) => r.tier === best.tier);
  if (sameTier.length > 1) return { id: null, active: false, ambiguous: true, candidates: sameTier.map((r) => r.id) };
  return { id: best.id, active: best.active === 1, ambiguous: false };
}
