import { DurableObject } from "cloudflare:workers";
import { migrate, readGate, SESSION_COLUMNS, writeGate, type SessionRow } from "./object-storage";
import type {
  CheckResult,
  CreateSessionInput,
  CreateSessionResult,
  GateState,
  GroupRef,
  GroupsChange,
  GroupsChangeResult,
  IdentityInput,
  RevokeReason,
  RevokeResult,
  SessionInfo,
  SessionKind,
} from "./types";

/** `check` rewrites `last_seen_at` at most this often, so a busy session costs one write a minute, not one per request. */
export const LAST_SEEN_RESOLUTION_MS = 60_000;
/** How long a revoked or expired session is kept, so `check` can still say why it ended. */
export const PRUNE_GRACE_MS = 24 * 60 * 60 * 1000;
/**
 * How long a deactivation's gate decision holds off a heal (`setActive(true, …, heal)`) that read an
 * older directory version. A deactivation writes D1 right after closing the gate (retries included,
 * well under a second), so a newer decision D1 still doesn't show after this long never committed.
 */
export const HEAL_HOLD_MS = 30_000;
/** The longest session we issue: Cloudflare's `session_duration` tops out at a month. */
export const MAX_TTL_SECONDS = 31 * 24 * 60 * 60;

/**
 * The per-user session authority (docs/architecture.md, "The per-user session authority"): one instance per user,
 * addressed with `env.USER_SESSIONS.getByName(userId)`. Being single-threaded is the point: once a
 * revocation has returned, no `check` anywhere can still pass the revoked session.
 * Call it through `./client.ts`, not directly.
 */
export class UserSessions extends DurableObject<Env> {
  readonly #sql: SqlStorage;
  /** The gate row, mirrored in memory so `check` is one indexed lookup; every gate write goes through `#setGate`. */
  #gate: GateState;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    // Synchronous SQL in the constructor finishes before any request is delivered, so no
    // blockConcurrencyWhile is needed.
    migrate(ctx.storage);
    this.#gate = readGate(this.#sql, ctx.id.name);
  }

  /** Opens a session unless the user is deprovisioned or inactive; a login's identity refreshes the snapshot. */
  async createSession(input: CreateSessionInput): Promise<CreateSessionResult> {
    assertCreateInput(input);
    if (this.#gate.deprovisioned) return { ok: false, error: "deprovisioned" };
    if (!this.#gate.active) return { ok: false, error: "inactive" };
    const now = Date.now();
    // Strictly after `reauthAfter`, so a session opened in the same millisecond as
    // `requireReauth` is not mistaken for one that predates it.
    const createdAt = Math.max(now, (this.#gate.reauthAfter ?? 0) + 1);
    let expiresAt = createdAt + Math.round(input.ttlSeconds * 1000);
    const parentId = input.kind === "access" ? (input.parentSessionId ?? null) : null;
    if (parentId !== null) {
      // The check and the insert run without an await between them, so no logout can land in between.
      const parent = this.check(parentId);
      if (parent.status !== "valid" || parent.appId !== null) return { ok: false, error: "parent_ended" };
      expiresAt = Math.min(expiresAt, parent.expiresAt);
    }
    const sessionId = crypto.randomUUID();
    const gate = input.identity ? withLoginIdentity(this.#gate, input.identity) : undefined;
    if (gate === "stale") return { ok: false, error: "stale_groups" };
    this.ctx.storage.transactionSync(() => {
      this.#sql.exec(
        `INSERT INTO sessions (id, kind, app_id, device_id, created_at, expires_at, last_seen_at, parent_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        sessionId,
        input.kind,
        input.kind === "access" ? (input.appId ?? null) : null,
        input.kind === "gateway" ? input.deviceId : null,
        createdAt,
        expiresAt,
        createdAt,
        parentId,
      );
      if (gate) this.#setGate(gate, now);
    });
    await this.#schedulePrune();
    return { ok: true, sessionId, expiresAt };
  }

  /**
   * The per-request check: one primary-key lookup, the gate from memory, and a `last_seen_at`
   * write at most once a minute per session. Precedence: revoked > expired > reauth_required.
   */
  check(sessionId: string): CheckResult {
    const row = this.#sql.exec<SessionRow>(`SELECT ${SESSION_COLUMNS} FROM sessions WHERE id = ?`, sessionId).next().value;
    if (!row) return { status: "unknown" };
    if (row.revoked_at !== null) return { status: "revoked", reason: row.revoke_reason as RevokeReason };
    // Deprovisioning revokes every session in the same transaction, so this cannot be reached with
    // a consistent database; it keeps the gate fail-closed if it ever is not.
    if (this.#gate.deprovisioned) return { status: "revoked", reason: "deprovisioned" };
    const now = Date.now();
    if (row.expires_at <= now) return { status: "expired" };
    const { reauthAfter } = this.#gate;
    if (reauthAfter !== null && row.created_at <= reauthAfter) return { status: "reauth_required" };
    if (now - row.last_seen_at >= LAST_SEEN_RESOLUTION_MS) {
      this.#sql.exec("UPDATE sessions SET last_seen_at = ? WHERE id = ?", now, sessionId);
    }
    return {
      status: "valid",
      kind: row.kind as SessionKind,
      appId: row.app_id,
      deviceId: row.device_id,
      identity: this.#gate.identity,
      groupsVersion: this.#gate.snapshotVersion,
      expiresAt: row.expires_at,
    };
  }

  /** Revokes every live session of the user (`revoke_user`, logout, deprovisioning). */
  async revokeAll(reason: RevokeReason, actor: string): Promise<RevokeResult> {
    const revoked = this.#revoke("", [], reason, actor);
    await this.#schedulePrune();
    return { revoked };
  }

  /** Revokes one session; `revoked` is 0 when it was unknown, expired or already revoked. */
  async revokeSession(sessionId: string, reason: RevokeReason, actor = "system"): Promise<RevokeResult> {
    const revoked = this.#revoke("AND id = ?", [sessionId], reason, actor);
    await this.#schedulePrune();
    return { revoked };
  }

  /**
   * Ends one Access login (`/cdn-cgi/access/logout`): the given session, its parent org session,
   * and every session opened from that org session. Other logins (another browser) and Gateway
   * devices are untouched. An unknown id revokes nothing.
   */
  async revokeLogin(sessionId: string, reason: RevokeReason, actor = "system"): Promise<RevokeResult> {
    const row = this.#sql.exec<{ parent_id: string | null }>("SELECT parent_id FROM sessions WHERE id = ? AND kind = 'access'", sessionId).next().value;
    if (!row) return { revoked: 0 };
    const root = row.parent_id ?? sessionId;
    const revoked = this.#revoke("AND kind = 'access' AND (id = ? OR parent_id = ?)", [root, root], reason, actor);
    await this.#schedulePrune();
    return { revoked };
  }

  /** Revokes the user's sessions of one Access app (`apps/:id/revoke_tokens`). */
  async revokeApp(appId: string, reason: RevokeReason, actor = "system"): Promise<RevokeResult> {
    const revoked = this.#revoke("AND app_id = ?", [appId], reason, actor);
    await this.#schedulePrune();
    return { revoked };
  }

  /**
   * Revokes everything and closes the gate, in one transaction. Called before the SCIM response, so
   * a 2xx to the IdP means no old session is honoured again.
   */
  async deprovision(actor: string, directoryVersion?: number): Promise<RevokeResult> {
    let revoked = 0;
    this.ctx.storage.transactionSync(() => {
      revoked = this.#revoke("", [], "deprovisioned", actor);
      const now = Date.now();
      const decided = directoryVersion === undefined ? {} : { directoryVersion: Math.max(this.#gate.directoryVersion, directoryVersion), directoryDecidedAt: now };
      this.#setGate({ ...this.#gate, active: false, deprovisioned: true, ...decided }, now);
    });
    await this.#schedulePrune();
    return { revoked };
  }

  /**
   * `active=false` only refuses new sessions (a connection with `user_deprovision` off keeps the old
   * ones); `active=true` reopens the gate and clears `deprovisioned`, but revoked sessions stay revoked.
   * `directoryVersion` is the D1 `users.version` this decision stands for. A `heal` (an IdP repeating
   * `active=true` for a user D1 already holds as active) is ignored while a decision taken at a NEWER
   * version is fresh (HEAL_HOLD_MS): a concurrent deactivation has closed the gate and is about to
   * commit, and reopening would let a login slip in between. Once that window has passed, a newer
   * decision that D1 still doesn't show never committed, and the heal applies, so the IdP can always
   * reopen a gate left closed. Any other call applies at once (a state change, or a compensation that
   * re-read D1 after its own write failed).
   */
  setActive(active: boolean, directoryVersion?: number, heal = false): GateState {
    const now = Date.now();
    const gate = this.#gate;
    if (heal && directoryVersion !== undefined && gate.directoryVersion > directoryVersion && now - gate.directoryDecidedAt < HEAL_HOLD_MS) return gate;
    const next = active ? { ...gate, active: true, deprovisioned: false } : { ...gate, active: false };
    const decided = directoryVersion === undefined ? {} : { directoryVersion, directoryDecidedAt: now };
    this.#setGate({ ...next, ...decided }, now);
    return this.#gate;
  }

  /** Makes every current session answer `reauth_required` without revoking it (e.g. after a policy change). */
  requireReauth(): GateState {
    this.#setGate({ ...this.#gate, reauthAfter: Date.now() }, Date.now());
    return this.#gate;
  }

  /**
   * Applies a group change once: a version at or below the last one seen is a queue redelivery and
   * changes nothing. `automatic` swaps the snapshot; `reauth` also revokes every session;
   * `no_action` leaves the snapshot until the next login.
   */
  async noteGroupsChanged(change: GroupsChange): Promise<GroupsChangeResult> {
    if (!Number.isSafeInteger(change.groupsVersion)) throw new TypeError("groupsVersion must be an integer");
    const gate = this.#gate;
    if (change.groupsVersion <= gate.groupsVersion) return { applied: false, revoked: 0 };
    // A login may already have brought a newer snapshot (logins do not move the delivery watermark,
    // so a `reauth` change they read is still applied): never swap it for an older one.
    const next: GateState =
      change.behavior === "no_action" || change.groupsVersion < gate.snapshotVersion
        ? { ...gate, groupsVersion: change.groupsVersion }
        : {
            ...gate,
            groupsVersion: change.groupsVersion,
            snapshotVersion: change.groupsVersion,
            identity: { ...gate.identity, groups: copyGroups(change.groups) },
          };
    let revoked = 0;
    this.ctx.storage.transactionSync(() => {
      if (change.behavior === "reauth") revoked = this.#revoke("", [], "groups_changed", "scim");
      this.#setGate(next, Date.now());
    });
    if (revoked > 0) await this.#schedulePrune();
    return { applied: true, revoked };
  }

  /** The user's live sessions, newest first. */
  listSessions(): SessionInfo[] {
    const now = Date.now();
    return this.#sql
      .exec<SessionRow>(
        `SELECT ${SESSION_COLUMNS} FROM sessions WHERE revoked_at IS NULL AND expires_at > ? ORDER BY created_at DESC`,
        now,
      )
      .toArray()
      .map((row) => ({
        id: row.id,
        kind: row.kind as SessionKind,
        appId: row.app_id,
        deviceId: row.device_id,
        createdAt: row.created_at,
        expiresAt: row.expires_at,
        lastSeenAt: row.last_seen_at,
      }));
  }

  /** The gate state (active, deprovisioned, versions, identity snapshot). */
  gate(): GateState {
    return this.#gate;
  }

  /** Does nothing: the benchmarks' floor for one RPC round trip to this object. */
  noop(): void {}

  /** Deletes sessions that ended more than `PRUNE_GRACE_MS` ago, then re-arms for the next one (or not at all). */
  override async alarm(): Promise<void> {
    this.#sql.exec("DELETE FROM sessions WHERE ends_at <= ?", Date.now() - PRUNE_GRACE_MS);
    await this.#schedulePrune();
  }

  /** Marks live sessions matching `filter` revoked; returns how many. `filter` is a fixed SQL fragment, never user input. */
  #revoke(filter: string, params: SqlStorageValue[], reason: RevokeReason, actor: string): number {
    const now = Date.now();
    return this.#sql
      .exec(
        `UPDATE sessions SET revoked_at = ?, revoke_reason = ?, revoked_by = ?
         WHERE revoked_at IS NULL AND expires_at > ? ${filter} RETURNING id`,
        now,
        reason,
        actor,
        now,
        ...params,
      )
      .toArray().length;
  }

  /** Persists the gate and then mirrors it; inside a transaction that throws, the mirror is never updated. */
  #setGate(next: GateState, now: number): void {
    writeGate(this.#sql, next, now);
    this.#gate = next;
  }

  /** Arms the alarm for the earliest prunable session; with no sessions left, an idle object has no alarm. */
  async #schedulePrune(): Promise<void> {
    const { at } = this.#sql.exec<{ at: number | null }>("SELECT min(ends_at) AS at FROM sessions").one();
    const current = await this.ctx.storage.getAlarm();
    if (at === null) {
      if (current !== null) await this.ctx.storage.deleteAlarm();
      return;
    }
    if (current !== at + PRUNE_GRACE_MS) await this.ctx.storage.setAlarm(at + PRUNE_GRACE_MS);
  }
}

/** RPC callers are typed, but the object is the last line of defence: reject shapes TS would have. */
function assertCreateInput(input: CreateSessionInput): void {
  const { ttlSeconds } = input;
  if (!(typeof ttlSeconds === "number" && ttlSeconds > 0 && ttlSeconds <= MAX_TTL_SECONDS)) {
    throw new RangeError(`ttlSeconds must be in (0, ${MAX_TTL_SECONDS}]`);
  }
  if (input.kind === "gateway" ? typeof input.deviceId !== "string" || input.deviceId === "" : input.kind !== "access") {
    throw new TypeError("a session is `access` (optional appId) or `gateway` (with deviceId)");
  }
}

/**
 * A login's identity: email and IdP always; groups when the login's snapshot is at least as new as
 * what the object holds. `groupsVersion` (the delivery watermark) is left alone: a change the login
 * already read is still delivered and applied (a `reauth` change must still revoke older sessions).
 * A login older than a delivered change takes the object's groups when the object holds them, and
 * is `stale` when it does not (a `no_action` change keeps only its version): the caller re-reads D1.
 */
function withLoginIdentity(gate: GateState, login: IdentityInput): GateState | "stale" {
  const identity = { ...gate.identity, idpId: login.idpId, email: login.email };
  const version = login.groupsVersion;
  // A caller without versions: its groups are taken as current.
  if (version === undefined) return { ...gate, snapshotVersion: gate.groupsVersion, identity: { ...identity, groups: copyGroups(login.groups) } };
  if (!Number.isSafeInteger(version) || version < 0) throw new TypeError("groupsVersion must be a non-negative integer");
  if (version < gate.groupsVersion) return gate.snapshotVersion >= gate.groupsVersion ? { ...gate, identity } : "stale";
  if (version < gate.snapshotVersion) return { ...gate, identity };
  return { ...gate, snapshotVersion: version, identity: { ...identity, groups: copyGroups(login.groups) } };
}

/** Keeps only `{id, name}`: the snapshot is returned on every check, so no stray fields ride along. */
function copyGroups(groups: readonly GroupRef[]): GroupRef[] {
  return groups.map(({ id, name }) => ({ id: String(id), name: String(name) }));
}
