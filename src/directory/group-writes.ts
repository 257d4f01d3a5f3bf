import { chunks } from "../lib/chunks";
import type { MemberValue } from "../scim/patch";
import type { DirectoryContext } from "./context";

/**
 * The statements of one group write, for ONE `db.batch` (one SQLite transaction):
 *
 * - membership changes are set operations (`INSERT … ON CONFLICT`, `DELETE`): they touch only the
 *   rows they name, so concurrent member PATCHes commute and need no read-modify-write;
 * - the users whose membership really changed are recorded in SQL, in the same transaction, as an
 *   `identity_outbox` row plus its `identity_outbox_users` (the "before" state is the transaction's
 *   own), and each of them gets `users.groups_version + 1`: the per-user version the session fan-out
 *   delivers. Unchanged members are not recorded (under `reauth` they would be logged out for nothing);
 * - every statement is scoped to the group existing in this connection and, with a version, still
 *   being at the version read: if the scope fails, the whole batch writes nothing, and the closing
 *   `UPDATE groups` reports `changes = 0`.
 *
 * Cost: O(members named) statements and row reads; O(group size) only for whole-group operations
 * (replace, remove all, rename, delete), which must visit every member anyway.
 */

/** Outbox rows carry this kind; the fan-out (src/sessions/outbox.ts) drains them. */
export const GROUPS_CHANGED = "groups_changed";
/** The cron re-drives an outbox row left behind this long after it was written. */
export const OUTBOX_FIRST_REDRIVE_MS = 60_000;

/** The D1 error of a batch that tried to add an id that is not a user of the connection. */
export const MISSING_MEMBER = "NOT NULL constraint failed: group_members.user_id";

/** D1 binds at most 100 parameters; a statement spends up to 6 on the group scope, connection and outbox id. */
const IDS_PER_STATEMENT = 90;
/** Members with a `display` take two parameters each. */
const MEMBERS_PER_STATEMENT = 45;

/** The group a write applies to; `version` set: only while the group is still at that version. */
export interface WriteScope {
  groupId: string;
  version?: number;
}

/** Builds the statements of one group write, in the order they must run. */
export class GroupWrite {
  readonly statements: D1PreparedStatement[] = [];
  /** Index of the closing `UPDATE groups` (its `changes` says whether the write applied). */
  groupUpdateAt = -1;
  /** Index of the `SELECT` of the outbox users to drain inline (when tracking). */
  pendingAt = -1;
  readonly outboxId = crypto.randomUUID();
  #scope: WriteScope;

  constructor(
    private readonly ctx: DirectoryContext,
    scope: WriteScope,
    readonly payload: Record<string, unknown>,
    now: string,
    prelude: D1PreparedStatement[] = [],
  ) {
    this.#scope = scope;
    this.statements.push(...prelude);
    const next = new Date(Date.parse(now) + OUTBOX_FIRST_REDRIVE_MS).toISOString();
    this.#push(
      `INSERT INTO identity_outbox (id, kind, idp_id, payload, created_at, attempts, next_attempt_at)
       SELECT ?, ?, ?, ?, ?, 0, ? WHERE ${this.#scopeSql()}`,
      [this.outboxId, GROUPS_CHANGED, ctx.idp.id, JSON.stringify(payload), now, next, ...this.#scopeParams()],
    );
  }

  #scopeSql(): string {
    return `EXISTS (SELECT 1 FROM groups WHERE id = ? AND idp_id = ?${this.#scope.version !== undefined ? " AND version = ?" : ""})`;
  }

  #scopeParams(): (string | number)[] {
    const { groupId, version } = this.#scope;
    return version !== undefined ? [groupId, this.ctx.idp.id, version] : [groupId, this.ctx.idp.id];
  }

  #push(sql: string, params: (string | number | null)[]): number {
    this.statements.push(this.ctx.db.prepare(sql).bind(...params));
    return this.statements.length - 1;
  }

  /** Set-add (an existing member stays as it is, except that it takes a `display` if it had none). */
  add(members: MemberValue[]): void {
    for (const c of chunks(members, MEMBERS_PER_STATEMENT)) {
      // Recorded first: only ids that are not members yet (an indexed probe per id).
      this.#push(
        `INSERT INTO identity_outbox_users (outbox_id, user_id)
         SELECT ?, v.column1 FROM (VALUES ${c.map(() => "(?)").join(",")}) v
         WHERE NOT EXISTS (SELECT 1 FROM group_members gm WHERE gm.group_id = ? AND gm.user_id = v.column1) AND ${this.#scopeSql()}
         ON CONFLICT DO NOTHING`,
        [this.outboxId, ...c.map((m) => m.value), this.#scope.groupId, ...this.#scopeParams()],
      );
      this.#upsert(c);
    }
  }

  /**
   * INSERT of members (at most MEMBERS_PER_STATEMENT). `display` is immutable once stored (RFC 7643
   * §2.4): an existing member only takes one if it has none yet. An id that is not a user of THIS connection becomes NULL and fails the NOT NULL
   * constraint, which aborts the whole batch: the existence check costs no extra round trip, and
   * another connection's user can never be added (see MISSING_MEMBER).
   */
  #upsert(members: MemberValue[]): void {
    this.#push(
      `INSERT INTO group_members (group_id, user_id, display)
       SELECT ?, CASE WHEN EXISTS (SELECT 1 FROM users u WHERE u.id = v.column1 AND u.idp_id = ?) THEN v.column1 END, v.column2
       FROM (VALUES ${members.map(() => "(?, ?)").join(",")}) v WHERE ${this.#scopeSql()}
       ON CONFLICT (group_id, user_id) DO UPDATE SET display = excluded.display
       WHERE group_members.display IS NULL AND excluded.display IS NOT NULL`,
      [this.#scope.groupId, this.ctx.idp.id, ...members.flatMap((m) => [m.value, m.display ?? null]), ...this.#scopeParams()],
    );
  }

  /** Set-remove. */
  remove(ids: string[]): void {
    const g = this.#scope.groupId;
    for (const c of chunks([...new Set(ids)], IDS_PER_STATEMENT)) {
      const list = c.map(() => "?").join(",");
      this.#push(
        `INSERT INTO identity_outbox_users (outbox_id, user_id)
         SELECT ?, user_id FROM group_members WHERE group_id = ? AND user_id IN (${list}) AND ${this.#scopeSql()}
         ON CONFLICT DO NOTHING`,
        [this.outboxId, g, ...c, ...this.#scopeParams()],
      );
      this.#push(`DELETE FROM group_members WHERE group_id = ? AND user_id IN (${list}) AND ${this.#scopeSql()}`, [g, ...c, ...this.#scopeParams()]);
    }
  }

  /** Records every current member (a rename changes each member's group names; a delete removes them all). */
  recordAllMembers(): void {
    this.#push(
      `INSERT INTO identity_outbox_users (outbox_id, user_id)
       SELECT ?, user_id FROM group_members WHERE group_id = ? AND ${this.#scopeSql()}
       ON CONFLICT DO NOTHING`,
      [this.outboxId, this.#scope.groupId, ...this.#scopeParams()],
    );
  }

  /** Removes every member. */
  removeAll(): void {
    this.recordAllMembers();
    this.#push(`DELETE FROM group_members WHERE group_id = ? AND ${this.#scopeSql()}`, [this.#scope.groupId, ...this.#scopeParams()]);
  }

  /**
   * Replaces the member list (PUT, PATCH replace). The new ids are staged under a throw-away outbox
   * row, so the symmetric difference against the current members is computed in SQL inside this
   * transaction; members in both lists are neither rewritten nor recorded.
   */
  replace(members: MemberValue[]): void {
    const g = this.#scope.groupId;
    const stage = crypto.randomUUID();
    this.#push(
      `INSERT INTO identity_outbox (id, kind, idp_id, payload, created_at, attempts, next_attempt_at)
       SELECT ?, 'staging', ?, '{}', '', 0, '9999' WHERE ${this.#scopeSql()}`,
      [stage, this.ctx.idp.id, ...this.#scopeParams()],
    );
    for (const c of chunks(members.map((m) => m.value), IDS_PER_STATEMENT)) {
      this.#push(
        `INSERT INTO identity_outbox_users (outbox_id, user_id) SELECT ?, column1 FROM (VALUES ${c.map(() => "(?)").join(",")}) WHERE ${this.#scopeSql()} ON CONFLICT DO NOTHING`,
        [stage, ...c, ...this.#scopeParams()],
      );
    }
    const staged = "SELECT user_id FROM identity_outbox_users WHERE outbox_id = ?";
    // Removed: members not in the new list. Added: new ids not members yet.
    this.#push(
      `INSERT INTO identity_outbox_users (outbox_id, user_id)
       SELECT ?, user_id FROM group_members WHERE group_id = ? AND user_id NOT IN (${staged}) AND ${this.#scopeSql()}
       ON CONFLICT DO NOTHING`,
      [this.outboxId, g, stage, ...this.#scopeParams()],
    );
    this.#push(
      `INSERT INTO identity_outbox_users (outbox_id, user_id)
       SELECT ?, s.user_id FROM identity_outbox_users s
       WHERE s.outbox_id = ? AND NOT EXISTS (SELECT 1 FROM group_members gm WHERE gm.group_id = ? AND gm.user_id = s.user_id) AND ${this.#scopeSql()}
       ON CONFLICT DO NOTHING`,
      [this.outboxId, stage, g, ...this.#scopeParams()],
    );
    this.#push(`DELETE FROM group_members WHERE group_id = ? AND user_id NOT IN (${staged}) AND ${this.#scopeSql()}`, [g, stage, ...this.#scopeParams()]);
    this.#push("DELETE FROM identity_outbox WHERE id = ?", [stage]);
    for (const c of chunks(members, MEMBERS_PER_STATEMENT)) this.#upsert(c);
  }

  /**
   * Closes the write: bumps `groups_version` of exactly the recorded users, runs `groupStatement`
   * (the `UPDATE groups` or `DELETE` whose result decides success), then keeps the outbox row only
   * when there is something to deliver (`track` false: never, but versions still move).
   */
  finish(groupStatement: D1PreparedStatement | undefined, track: boolean, pendingLimit: number): void {
    this.#push("UPDATE users SET groups_version = groups_version + 1 WHERE id IN (SELECT user_id FROM identity_outbox_users WHERE outbox_id = ?)", [this.outboxId]);
    if (groupStatement) {
      this.statements.push(groupStatement);
      this.groupUpdateAt = this.statements.length - 1;
    }
    if (track) {
      // Only users who ever opened a session have an object to tell. A login writes its
      // session_index row BEFORE reading groups, so a user without one now will read the new
      // groups at login: nothing is owed to them (and a typical member PATCH needs no fan-out).
      this.#push(
        `DELETE FROM identity_outbox_users WHERE outbox_id = ?
         AND NOT EXISTS (SELECT 1 FROM session_index s WHERE s.user_id = identity_outbox_users.user_id)`,
        [this.outboxId],
      );
      this.#push("DELETE FROM identity_outbox WHERE id = ? AND NOT EXISTS (SELECT 1 FROM identity_outbox_users WHERE outbox_id = ?)", [this.outboxId, this.outboxId]);
      this.pendingAt = this.#push("SELECT user_id FROM identity_outbox_users WHERE outbox_id = ? ORDER BY user_id LIMIT ?", [this.outboxId, pendingLimit + 1]);
    } else {
      this.#push("DELETE FROM identity_outbox WHERE id = ?", [this.outboxId]);
    }
  }
}
