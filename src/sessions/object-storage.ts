// The Durable Object's OWN SQLite (not D1): the layout of one UserSessions object and its migrations. Each object migrates
// itself on construction, so objects created by older code catch up the first time they wake.
import type { GateState, GroupRef } from "./types";

/**
 * Append-only: entry N brings schema version N to N+1. Never edit a shipped entry; add one.
 * One statement per string (the SQL API binds parameters to a single statement).
 */
const MIGRATIONS: readonly (readonly string[])[] = [
  [
    // `ends_at` is when the session stopped being usable (revocation or expiry, whichever came
    // first); the pruning alarm deletes by it and schedules itself from its minimum.
    `CREATE TABLE sessions (
       id TEXT PRIMARY KEY,
       kind TEXT NOT NULL CHECK (kind IN ('access', 'gateway')),
       app_id TEXT,
       device_id TEXT,
       created_at INTEGER NOT NULL,
       expires_at INTEGER NOT NULL,
       last_seen_at INTEGER NOT NULL,
       revoked_at INTEGER,
       revoke_reason TEXT,
       revoked_by TEXT,
       ends_at INTEGER GENERATED ALWAYS AS (min(expires_at, coalesce(revoked_at, expires_at))) VIRTUAL,
       CHECK ((kind = 'gateway') = (device_id IS NOT NULL)),
       CHECK (kind = 'access' OR app_id IS NULL)
     ) WITHOUT ROWID`,
    `CREATE INDEX sessions_app ON sessions (app_id) WHERE app_id IS NOT NULL`,
    `CREATE INDEX sessions_ends ON sessions (ends_at)`,
    // Exactly one row: the user's gate. Groups are a JSON array of {id, name}; the snapshot is
    // small (one user's groups) and always read whole, so a join table would buy nothing here.
    `CREATE TABLE gate (
       id INTEGER PRIMARY KEY CHECK (id = 1),
       user_id TEXT,
       idp_id TEXT,
       email TEXT,
       groups TEXT NOT NULL DEFAULT '[]',
       active INTEGER NOT NULL DEFAULT 1,
       deprovisioned INTEGER NOT NULL DEFAULT 0,
       groups_version INTEGER NOT NULL DEFAULT 0,
       snapshot_version INTEGER NOT NULL DEFAULT 0,
       reauth_after INTEGER,
       updated_at INTEGER NOT NULL DEFAULT 0
     )`,
    `INSERT INTO gate (id) VALUES (1)`,
  ],
  [
    // Group versions were `Date.now() * 1000` (about 1.7e15); they are now the user's
    // `users.groups_version` counter in D1, starting at 1. A clock-based watermark would make every
    // counter-versioned change look like a redelivery and be ignored forever, so reset it (1e12 is
    // far above any counter and far below any clock value).
    `UPDATE gate SET groups_version = 0 WHERE groups_version > 1000000000000`,
    `UPDATE gate SET snapshot_version = 0 WHERE snapshot_version > 1000000000000`,
  ],
  [
    // The D1 `users.version` the gate's active/deprovisioned state was last decided at, so a stale
    // "reopen" (an IdP's no-op `active=true` read before a concurrent deactivation) cannot undo a
    // newer deactivation. 0: unknown (objects from before this migration).
    `ALTER TABLE gate ADD COLUMN directory_version INTEGER NOT NULL DEFAULT 0`,
    `ALTER TABLE gate ADD COLUMN directory_decided_at INTEGER NOT NULL DEFAULT 0`,
  ],
  [
    // Access logins: an app session is opened from an org session (the team host's
    // CF_Authorization) and names it as its parent, so a logout ends the whole login (the org
    // session and every app session it opened) and nothing else (other browsers, Gateway devices).
    `ALTER TABLE sessions ADD COLUMN parent_id TEXT`,
    `CREATE INDEX sessions_parent ON sessions (parent_id) WHERE parent_id IS NOT NULL`,
  ],
];

/** The schema version this code writes; stored in `meta` so a future migration knows where to start. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** Brings the object's database to `SCHEMA_VERSION` atomically; a no-op (two reads) when current. */
export function migrate(storage: DurableObjectStorage): void {
  const sql = storage.sql;
  storage.transactionSync(() => {
    sql.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)");
    const row = sql.exec<{ value: number }>("SELECT value FROM meta WHERE key = 'schema_version'").next().value;
    const from = row?.value ?? 0;
    // Rolled-back code must not write rows a newer schema would misread: fail loudly instead.
    if (from > SCHEMA_VERSION) throw new Error(`UserSessions schema v${from} is newer than this code (v${SCHEMA_VERSION})`);
    if (from === SCHEMA_VERSION) return;
    for (const statements of MIGRATIONS.slice(from)) {
      for (const statement of statements) sql.exec(statement);
    }
    sql.exec(
      "INSERT INTO meta (key, value) VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      SCHEMA_VERSION,
    );
  });
}

/** A `sessions` row as `check` and `listSessions` read it. */
export type SessionRow = {
  id: string;
  kind: string;
  app_id: string | null;
  device_id: string | null;
  created_at: number;
  expires_at: number;
  last_seen_at: number;
  revoked_at: number | null;
  revoke_reason: string | null;
};

/** The columns of `sessions` in `SessionRow` order, for SELECT lists. */
export const SESSION_COLUMNS =
  "id, kind, app_id, device_id, created_at, expires_at, last_seen_at, revoked_at, revoke_reason";

type GateRow = {
  user_id: string | null;
  idp_id: string | null;
  email: string | null;
  groups: string;
  active: number;
  deprovisioned: number;
  groups_version: number;
  snapshot_version: number;
  reauth_after: number | null;
  directory_version: number;
  directory_decided_at: number;
};

/** Reads the gate row; `userId` (the object's name) fills a row written before the name was known. */
export function readGate(sql: SqlStorage, userId: string | undefined): GateState {
  const row = sql
    .exec<GateRow>(
      `SELECT user_id, idp_id, email, groups, active, deprovisioned, groups_version, snapshot_version, reauth_after, directory_version, directory_decided_at
       FROM gate WHERE id = 1`,
    )
    .one();
  return {
    active: row.active === 1,
    deprovisioned: row.deprovisioned === 1,
    groupsVersion: row.groups_version,
    snapshotVersion: row.snapshot_version,
    reauthAfter: row.reauth_after,
    directoryVersion: row.directory_version,
    directoryDecidedAt: row.directory_decided_at,
    identity: {
      userId: row.user_id ?? userId ?? null,
      idpId: row.idp_id,
      email: row.email,
      groups: JSON.parse(row.groups) as GroupRef[],
    },
  };
}

/** Writes the whole gate row (it is one small row; partial updates would only add code paths). */
export function writeGate(sql: SqlStorage, gate: GateState, now: number): void {
  sql.exec(
    `UPDATE gate SET user_id = ?, idp_id = ?, email = ?, groups = ?, active = ?, deprovisioned = ?,
       groups_version = ?, snapshot_version = ?, reauth_after = ?, directory_version = ?, directory_decided_at = ?, updated_at = ?
     WHERE id = 1`,
    gate.identity.userId,
    gate.identity.idpId,
    gate.identity.email,
    JSON.stringify(gate.identity.groups),
    gate.active ? 1 : 0,
    gate.deprovisioned ? 1 : 0,
    gate.groupsVersion,
    gate.snapshotVersion,
    gate.reauthAfter,
    gate.directoryVersion,
    gate.directoryDecidedAt,
    now,
  );
}
