import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { checkSession, revokeAllSessions, sessionsFor } from "../../src/sessions/client";
import { SCHEMA_VERSION } from "../../src/sessions/object-storage";
import type { CheckResult, CreateSessionInput, GroupRef, IdentityInput } from "../../src/sessions/types";
import { LAST_SEEN_RESOLUTION_MS, PRUNE_GRACE_MS, type UserSessions } from "../../src/sessions/user-sessions";

// Storage is shared by the tests of this file, so every test works on its own user.
const newUser = () => `user-${crypto.randomUUID()}`;
const stubOf = (userId: string) => env.USER_SESSIONS.getByName(userId);

const ENGINEERING: GroupRef = { id: "g-eng", name: "engineering" };
const RISKY: GroupRef = { id: "g-risky", name: "risky" };
const IDENTITY: IdentityInput = { idpId: "idp-1", email: "ada@example.com", groups: [ENGINEERING] };

const ACCESS: CreateSessionInput = { kind: "access", appId: "app-a", ttlSeconds: 3600 };
const GATEWAY: CreateSessionInput = { kind: "gateway", deviceId: "device-1", ttlSeconds: 3600 };

/** Opens a session and returns its id, failing the test on a refusal. */
async function open(userId: string, input: CreateSessionInput = ACCESS): Promise<string> {
  const res = await sessionsFor(env, userId).createSession(input);
  if (!res.ok) throw new Error(`createSession refused: ${res.error}`);
  return res.sessionId;
}

/** Runs SQL inside the user's object, to assert on (or age) storage directly. */
function sql<T = Record<string, SqlStorageValue>>(userId: string, query: string, ...params: SqlStorageValue[]): Promise<T[]> {
  return runInDurableObject(stubOf(userId), (_instance, state) => state.storage.sql.exec(query, ...params).toArray() as T[]);
}

function alarmOf(userId: string): Promise<number | null> {
  return runInDurableObject(stubOf(userId), (_instance, state) => state.storage.getAlarm());
}

describe("UserSessions: create and check", () => {
  it.each([
    { input: ACCESS, appId: "app-a", deviceId: null },
    { input: { kind: "access", ttlSeconds: 60 } satisfies CreateSessionInput, appId: null, deviceId: null },
    { input: GATEWAY, appId: null, deviceId: "device-1" },
  ])("a $input.kind session is valid and carries the identity snapshot (app $appId, device $deviceId)", async ({ input, appId, deviceId }) => {
    const userId = newUser();
    const s = sessionsFor(env, userId);
    const created = await s.createSession({ ...input, identity: IDENTITY });
    expect(created.ok).toBe(true);
    if (!created.ok) return;
    expect(created.expiresAt).toBeGreaterThanOrEqual(Date.now() + input.ttlSeconds * 1000 - 1000);

    expect(await s.check(created.sessionId)).toEqual({
      status: "valid",
      kind: input.kind,
      appId,
      deviceId,
      identity: { userId, idpId: "idp-1", email: "ada@example.com", groups: [ENGINEERING] },
      groupsVersion: 0,
      expiresAt: created.expiresAt,
    });
    const rows = await sql(userId, "SELECT kind, app_id, device_id, expires_at, revoked_at FROM sessions WHERE id = ?", created.sessionId);
    expect(rows).toEqual([{ kind: input.kind, app_id: appId, device_id: deviceId, expires_at: created.expiresAt, revoked_at: null }]);
  });

  it("check is one SQL statement, plus one write only when last_seen_at is a minute old", async () => {
    const userId = newUser();
    const sid = await open(userId);
    const countExecs = (fn: (instance: UserSessions) => unknown) =>
      runInDurableObject(stubOf(userId), (instance: UserSessions, state) => {
        const sql = state.storage.sql;
        const exec = sql.exec;
        let calls = 0;
        sql.exec = ((...args: Parameters<SqlStorage["exec"]>) => (calls++, exec.apply(sql, args))) as SqlStorage["exec"];
        try {
          fn(instance);
        } finally {
          sql.exec = exec;
        }
        return calls;
      });
    expect(await countExecs((i) => i.check(sid))).toBe(1);
    expect(await countExecs((i) => i.check(crypto.randomUUID()))).toBe(1);
    await sql(userId, "UPDATE sessions SET last_seen_at = 0 WHERE id = ?", sid);
    expect(await countExecs((i) => i.check(sid))).toBe(2);
  });

  it("answers unknown for a session it never issued", async () => {
    const userId = newUser();
    await open(userId);
    expect(await checkSession(env, userId, crypto.randomUUID())).toEqual({ status: "unknown" });
  });

  it("answers expired once expires_at has passed, and neither lists nor revokes it", async () => {
    const userId = newUser();
    const s = sessionsFor(env, userId);
    const sid = await open(userId);
    await sql(userId, "UPDATE sessions SET expires_at = ? WHERE id = ?", Date.now() - 1, sid);
    expect(await s.check(sid)).toEqual({ status: "expired" });
    expect(await s.listSessions()).toEqual([]);
    expect(await s.revokeAll("admin_revoked", "admin:test")).toEqual({ revoked: 0 });
    expect(await s.check(sid)).toEqual({ status: "expired" });
  });

  it("writes last_seen_at only when the stored value is a minute old", async () => {
    const userId = newUser();
    const sid = await open(userId);
    const lastSeen = async () => (await sql<{ t: number }>(userId, "SELECT last_seen_at AS t FROM sessions WHERE id = ?", sid))[0]?.t;
    const stale = Date.now() - LAST_SEEN_RESOLUTION_MS - 1000;
    const recent = Date.now() - 5_000;

    await sql(userId, "UPDATE sessions SET last_seen_at = ? WHERE id = ?", recent, sid);
    await checkSession(env, userId, sid);
    expect(await lastSeen()).toBe(recent);

    await sql(userId, "UPDATE sessions SET last_seen_at = ? WHERE id = ?", stale, sid);
    await checkSession(env, userId, sid);
    expect(await lastSeen()).toBeGreaterThan(stale + LAST_SEEN_RESOLUTION_MS);
  });

  it("lists live sessions newest first", async () => {
    const userId = newUser();
    const s = sessionsFor(env, userId);
    const a = await open(userId, ACCESS);
    const g = await open(userId, GATEWAY);
    const gone = await open(userId, ACCESS);
    await s.revokeSession(gone, "logout");
    const list = await s.listSessions();
    expect(list.map((x) => x.id).sort()).toEqual([a, g].sort());
    expect(list.find((x) => x.id === g)).toMatchObject({ kind: "gateway", deviceId: "device-1", appId: null });
  });

  it.each([
    { name: "zero ttl", input: { kind: "access", ttlSeconds: 0 }, error: /ttlSeconds/ },
    { name: "ttl over a month", input: { kind: "access", ttlSeconds: 40 * 24 * 3600 }, error: /ttlSeconds/ },
    { name: "gateway without device", input: { kind: "gateway", ttlSeconds: 60 }, error: /deviceId/ },
    { name: "unknown kind", input: { kind: "vpn", ttlSeconds: 60 }, error: /access/ },
  ])("rejects a malformed createSession ($name) as a bug", async ({ input, error }) => {
    const userId = newUser();
    // Called inside the object and caught there: a rejecting RPC through a stub leaks an extra
    // unhandled rejection in vitest-plugin (cloudflare/workers-sdk#14736).
    const outcome = await runInDurableObject(stubOf(userId), (instance) =>
      instance.createSession(input as CreateSessionInput).then(
        () => "accepted",
        (e: unknown) => String(e),
      ),
    );
    expect(outcome).toMatch(error);
    expect(await sql(userId, "SELECT id FROM sessions")).toEqual([]);
  });

  it("records its schema version and creates no alarm for an object without sessions", async () => {
    const userId = newUser();
    await sessionsFor(env, userId).noop();
    expect(await sql(userId, "SELECT value FROM meta WHERE key = 'schema_version'")).toEqual([{ value: SCHEMA_VERSION }]);
    expect(await alarmOf(userId)).toBeNull();
    expect(await runDurableObjectAlarm(stubOf(userId))).toBe(false);
  });
});

describe("UserSessions: revocation", () => {
  it("revokeAll revokes every Access and Gateway session, once", async () => {
    const userId = newUser();
    const ids = [await open(userId, ACCESS), await open(userId, { kind: "access", ttlSeconds: 600 }), await open(userId, GATEWAY)];
    expect(await revokeAllSessions(env, userId, "admin_revoked", "admin:token-1")).toEqual({ revoked: 3 });
    for (const sid of ids) {
      expect(await checkSession(env, userId, sid)).toEqual({ status: "revoked", reason: "admin_revoked" });
    }
    expect(await sql(userId, "SELECT DISTINCT revoke_reason, revoked_by FROM sessions")).toEqual([
      { revoke_reason: "admin_revoked", revoked_by: "admin:token-1" },
    ]);
    // A second revocation neither counts nor rewrites the first one's reason.
    expect(await revokeAllSessions(env, userId, "logout", "user")).toEqual({ revoked: 0 });
    expect(await checkSession(env, userId, ids[0]!)).toEqual({ status: "revoked", reason: "admin_revoked" });
  });

  it("revokeSession revokes only that session", async () => {
    const userId = newUser();
    const s = sessionsFor(env, userId);
    const [gone, kept] = [await open(userId), await open(userId)];
    expect(await s.revokeSession(gone, "logout", "user")).toEqual({ revoked: 1 });
    expect(await s.revokeSession(gone, "logout", "user")).toEqual({ revoked: 0 });
    expect(await s.check(gone)).toEqual({ status: "revoked", reason: "logout" });
    expect((await s.check(kept)).status).toBe("valid");
  });

  it("revokeApp revokes that app's sessions and nothing else", async () => {
    const userId = newUser();
    const s = sessionsFor(env, userId);
    const a1 = await open(userId, { kind: "access", appId: "app-a", ttlSeconds: 60 });
    const a2 = await open(userId, { kind: "access", appId: "app-a", ttlSeconds: 60 });
    const b = await open(userId, { kind: "access", appId: "app-b", ttlSeconds: 60 });
    const org = await open(userId, { kind: "access", ttlSeconds: 60 });
    const dev = await open(userId, GATEWAY);
    expect(await s.revokeApp("app-a", "app_revoked", "admin:token-1")).toEqual({ revoked: 2 });
    expect(await s.check(a1)).toEqual({ status: "revoked", reason: "app_revoked" });
    expect(await s.check(a2)).toEqual({ status: "revoked", reason: "app_revoked" });
    for (const sid of [b, org, dev]) expect((await s.check(sid)).status).toBe("valid");
  });

  it("requireReauth makes existing sessions reauth_required; sessions opened afterwards are valid", async () => {
    const userId = newUser();
    const s = sessionsFor(env, userId);
    const old = await open(userId);
    const gate = await s.requireReauth();
    expect(gate.reauthAfter).not.toBeNull();
    expect(await s.check(old)).toEqual({ status: "reauth_required" });
    const fresh = await open(userId);
    expect((await s.check(fresh)).status).toBe("valid");
    // Revocation still wins over reauth_required: the reason is more useful to the caller.
    await s.revokeSession(old, "logout");
    expect(await s.check(old)).toEqual({ status: "revoked", reason: "logout" });
  });
});

describe("UserSessions: deprovisioning and reactivation", () => {
  it("deprovision revokes everything and refuses new sessions", async () => {
    const userId = newUser();
    const s = sessionsFor(env, userId);
    const ids = [await open(userId, ACCESS), await open(userId, GATEWAY)];
    expect(await s.deprovision("scim:idp-1")).toEqual({ revoked: 2 });
    for (const sid of ids) expect(await s.check(sid)).toEqual({ status: "revoked", reason: "deprovisioned" });
    expect(await s.createSession(ACCESS)).toEqual({ ok: false, error: "deprovisioned" });
    expect(await s.createSession(GATEWAY)).toEqual({ ok: false, error: "deprovisioned" });
    expect(await s.gate()).toMatchObject({ active: false, deprovisioned: true });
    expect(await sql(userId, "SELECT active, deprovisioned FROM gate")).toEqual([{ active: 0, deprovisioned: 1 }]);
  });

  it("setActive(false) refuses new sessions but keeps existing ones", async () => {
    const userId = newUser();
    const s = sessionsFor(env, userId);
    const sid = await open(userId);
    await s.setActive(false);
    expect(await s.createSession(ACCESS)).toEqual({ ok: false, error: "inactive" });
    expect((await s.check(sid)).status).toBe("valid");
  });

  it("reactivation allows new sessions while old ones stay revoked", async () => {
    const userId = newUser();
    const s = sessionsFor(env, userId);
    const old = await open(userId);
    await s.deprovision("scim:idp-1");
    expect(await s.setActive(true)).toMatchObject({ active: true, deprovisioned: false });
    const fresh = await open(userId);
    expect((await s.check(fresh)).status).toBe("valid");
    expect(await s.check(old)).toEqual({ status: "revoked", reason: "deprovisioned" });
  });

  it("keeps the gate and sessions across an eviction (state is read back from storage)", async () => {
    const userId = newUser();
    const s = sessionsFor(env, userId);
    const sid = await open(userId, { ...ACCESS, identity: IDENTITY });
    await s.noteGroupsChanged({ groupsVersion: 4, behavior: "no_action", groups: [RISKY] });
    const before = await s.gate();
    await evictDurableObject(stubOf(userId));
    expect(await s.gate()).toEqual(before);
    expect(await s.check(sid)).toMatchObject({ status: "valid", groupsVersion: 0, identity: { groups: [ENGINEERING] } });
  });
});

describe("UserSessions: group changes", () => {
  it.each([
    {
      behavior: "reauth" as const,
      expected: { status: "revoked", reason: "groups_changed" } satisfies CheckResult,
      revoked: 1,
    },
    {
      behavior: "automatic" as const,
      expected: { status: "valid", groupsVersion: 2, identity: { groups: [ENGINEERING, RISKY] } },
      revoked: 0,
    },
    {
      behavior: "no_action" as const,
      expected: { status: "valid", groupsVersion: 0, identity: { groups: [ENGINEERING] } },
      revoked: 0,
    },
  ])("$behavior: the next check answers accordingly", async ({ behavior, expected, revoked }) => {
    const userId = newUser();
    const s = sessionsFor(env, userId);
    const sid = await open(userId, { ...ACCESS, identity: IDENTITY });
    const res = await s.noteGroupsChanged({ groupsVersion: 2, behavior, groups: [ENGINEERING, RISKY] });
    expect(res).toEqual({ applied: true, revoked });
    expect(await s.check(sid)).toMatchObject(expected);
    expect((await s.gate()).groupsVersion).toBe(2);
  });

  it("reauth: after signing in again the new session carries the new groups", async () => {
    const userId = newUser();
    const s = sessionsFor(env, userId);
    await open(userId, { ...ACCESS, identity: IDENTITY });
    await s.noteGroupsChanged({ groupsVersion: 2, behavior: "reauth", groups: [RISKY] });
    const fresh = await open(userId, { ...ACCESS, identity: { ...IDENTITY, groups: [RISKY], groupsVersion: 2 } });
    expect(await s.check(fresh)).toMatchObject({ status: "valid", groupsVersion: 2, identity: { groups: [RISKY] } });
  });

  it.each([
    { name: "an equal version (redelivery)", version: 3 },
    { name: "an older version (out of order)", version: 2 },
  ])("ignores $name", async ({ version }) => {
    const userId = newUser();
    const s = sessionsFor(env, userId);
    await open(userId, { ...ACCESS, identity: IDENTITY });
    await s.noteGroupsChanged({ groupsVersion: 3, behavior: "automatic", groups: [RISKY] });
    const sid = await open(userId); // opened after the change: a redelivered `reauth` must not revoke it
    expect(await s.noteGroupsChanged({ groupsVersion: version, behavior: "reauth", groups: [ENGINEERING] })).toEqual({
      applied: false,
      revoked: 0,
    });
    expect(await s.check(sid)).toMatchObject({ status: "valid", groupsVersion: 3, identity: { groups: [RISKY] } });
  });

  it("a login carrying an older groups version keeps the newer groups (but takes email and IdP)", async () => {
    const userId = newUser();
    const s = sessionsFor(env, userId);
    await s.noteGroupsChanged({ groupsVersion: 5, behavior: "automatic", groups: [RISKY] });
    const sid = await open(userId, { ...ACCESS, identity: { ...IDENTITY, email: "ada@new.example", groupsVersion: 4 } });
    expect(await s.check(sid)).toMatchObject({
      status: "valid",
      groupsVersion: 5,
      identity: { email: "ada@new.example", idpId: "idp-1", groups: [RISKY] },
    });
  });
});

describe("UserSessions: pruning alarm", () => {
  it("arms an alarm when a session is created, for its end plus the grace period", async () => {
    const userId = newUser();
    const res = await sessionsFor(env, userId).createSession(ACCESS);
    if (!res.ok) throw new Error("refused");
    expect(await alarmOf(userId)).toBe(res.expiresAt + PRUNE_GRACE_MS);
  });

  it("deletes sessions ended more than the grace period ago and keeps recent ones", async () => {
    const userId = newUser();
    const s = sessionsFor(env, userId);
    const [oldRevoked, oldExpired, recentRevoked, live] = [await open(userId), await open(userId), await open(userId), await open(userId)];
    await s.revokeSession(oldRevoked, "logout");
    await s.revokeSession(recentRevoked, "logout");
    const longAgo = Date.now() - PRUNE_GRACE_MS - 60_000;
    await sql(userId, "UPDATE sessions SET revoked_at = ? WHERE id = ?", longAgo, oldRevoked);
    await sql(userId, "UPDATE sessions SET expires_at = ? WHERE id = ?", longAgo, oldExpired);

    expect(await runDurableObjectAlarm(stubOf(userId))).toBe(true);

    const left = await sql<{ id: string }>(userId, "SELECT id FROM sessions ORDER BY id");
    expect(left.map((r) => r.id)).toEqual([recentRevoked, live].sort());
    expect(await s.check(oldRevoked)).toEqual({ status: "unknown" });
    expect(await s.check(recentRevoked)).toEqual({ status: "revoked", reason: "logout" });
    // Re-armed for the earliest remaining end: the recent revocation.
    const [{ ends } = { ends: 0 }] = await sql<{ ends: number }>(userId, "SELECT ends_at AS ends FROM sessions WHERE id = ?", recentRevoked);
    expect(await alarmOf(userId)).toBe(ends + PRUNE_GRACE_MS);
  });

  it("leaves an idle object with no rows and no alarm", async () => {
    const userId = newUser();
    await open(userId, ACCESS);
    await open(userId, GATEWAY);
    await revokeAllSessions(env, userId, "logout", "user");
    await sql(userId, "UPDATE sessions SET revoked_at = ?", Date.now() - PRUNE_GRACE_MS - 1);
    expect(await runDurableObjectAlarm(stubOf(userId))).toBe(true);
    expect(await sql(userId, "SELECT id FROM sessions")).toEqual([]);
    expect(await alarmOf(userId)).toBeNull();
    // The gate outlives its sessions: a deprovisioned user must stay deprovisioned.
    expect(await sql(userId, "SELECT id FROM gate")).toEqual([{ id: 1 }]);
  });
});

describe("UserSessions: revocation under concurrent checks", () => {
  it("no check that starts after revokeAll resolved returns valid (500 in flight)", async () => {
    const userId = newUser();
    const ids = [await open(userId, ACCESS), await open(userId, GATEWAY), await open(userId, { kind: "access", ttlSeconds: 60 })];
    // workerd freezes clocks between I/O, so "when" is a logical clock: a counter bumped at each
    // check's start, and the value it had when revokeAll's promise resolved.
    let clock = 0;
    let revokedAt = Number.POSITIVE_INFINITY;
    const inFlight: Promise<{ startedAt: number; result: CheckResult }>[] = [];
    const fire = (n: number) => {
      for (let i = 0; i < n; i++) {
        const startedAt = clock++;
        // A fresh stub per check, like separate requests on separate edge isolates would use.
        inFlight.push(checkSession(env, userId, ids[inFlight.length % ids.length]!).then((result) => ({ startedAt, result })));
      }
    };

    fire(200);
    const revoke = revokeAllSessions(env, userId, "admin_revoked", "admin:test").then((r) => {
      revokedAt = clock;
      return r;
    });
    for (let wave = 0; wave < 20; wave++) {
      fire(10);
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    expect(await revoke).toEqual({ revoked: 3 });
    fire(500 - inFlight.length);

    const results = await Promise.all(inFlight);
    expect(results).toHaveLength(500);
    const after = results.filter((r) => r.startedAt >= revokedAt);
    expect(after.length).toBeGreaterThanOrEqual(100);
    expect(after.filter((r) => r.result.status === "valid")).toEqual([]);
    for (const r of after) expect(r.result).toEqual({ status: "revoked", reason: "admin_revoked" });
    // Whatever started earlier may have been answered either way, but never with anything else;
    // and some were answered valid, or this test would not be racing anything.
    for (const r of results) expect(["valid", "revoked"]).toContain(r.result.status);
    expect(results.some((r) => r.startedAt < revokedAt && r.result.status === "valid")).toBe(true);
  });
});

describe("UserSessions: logins racing group changes (per-user groups_version)", () => {
  it("a login that read its groups before a no_action change the object saw is refused as stale; a fresh one is taken", async () => {
    const userId = newUser();
    const s = sessionsFor(env, userId);
    await open(userId, { ...ACCESS, identity: { ...IDENTITY, groupsVersion: 1 } });
    await s.noteGroupsChanged({ groupsVersion: 2, behavior: "no_action", groups: [RISKY] });
    expect(await s.createSession({ ...ACCESS, identity: { ...IDENTITY, groups: [ENGINEERING], groupsVersion: 1 } })).toEqual({ ok: false, error: "stale_groups" });
    const sid = await open(userId, { ...ACCESS, identity: { ...IDENTITY, groups: [RISKY], groupsVersion: 2 } });
    expect(await s.check(sid)).toMatchObject({ status: "valid", groupsVersion: 2, identity: { groups: [RISKY] } });
  });

  it("a login that already read a reauth change does not swallow it: the change still revokes older sessions", async () => {
    const userId = newUser();
    const s = sessionsFor(env, userId);
    const older = await open(userId, { ...ACCESS, identity: { ...IDENTITY, groupsVersion: 1 } });
    // The login reads v2 from D1 before the fan-out of v2 reaches the object.
    await open(userId, { ...ACCESS, identity: { ...IDENTITY, groups: [RISKY], groupsVersion: 2 } });
    const res = await s.noteGroupsChanged({ groupsVersion: 2, behavior: "reauth", groups: [RISKY] });
    expect(res.applied).toBe(true);
    expect(await s.check(older)).toEqual({ status: "revoked", reason: "groups_changed" });
  });

  it("an automatic change older than a login's snapshot does not replace it", async () => {
    const userId = newUser();
    const s = sessionsFor(env, userId);
    const sid = await open(userId, { ...ACCESS, identity: { ...IDENTITY, groups: [RISKY], groupsVersion: 3 } });
    expect((await s.noteGroupsChanged({ groupsVersion: 2, behavior: "automatic", groups: [ENGINEERING] })).applied).toBe(true);
    expect(await s.check(sid)).toMatchObject({ status: "valid", groupsVersion: 3, identity: { groups: [RISKY] } });
  });

  /** Turns an object's storage back into what schema version 1 left (migrations 2, 3 and 4 then run on wake). */
  function asSchemaV1(state: DurableObjectState): void {
    state.storage.sql.exec("DROP INDEX sessions_parent");
    state.storage.sql.exec("ALTER TABLE sessions DROP COLUMN parent_id");
    state.storage.sql.exec("ALTER TABLE gate DROP COLUMN directory_decided_at");
    state.storage.sql.exec("ALTER TABLE gate DROP COLUMN directory_version");
    state.storage.sql.exec("UPDATE meta SET value = 1 WHERE key = 'schema_version'");
  }

  it("migration 2 resets clock-based watermarks (Date.now()*1000) to 0 so counter versions from 1 apply", async () => {
    const userId = newUser();
    const s = sessionsFor(env, userId);
    const sid = await open(userId, { ...ACCESS, identity: IDENTITY });
    const clock = Date.now() * 1000;
    await runInDurableObject(stubOf(userId), (_instance, state) => {
      state.storage.sql.exec("UPDATE gate SET groups_version = ?, snapshot_version = ?", clock, clock);
      asSchemaV1(state);
    });
    await evictDurableObject(stubOf(userId));
    expect(await s.gate()).toMatchObject({ groupsVersion: 0, snapshotVersion: 0, directoryVersion: 0 });
    expect(await sql(userId, "SELECT value FROM meta WHERE key = 'schema_version'")).toEqual([{ value: SCHEMA_VERSION }]);
    expect(await s.noteGroupsChanged({ groupsVersion: 1, behavior: "automatic", groups: [RISKY] })).toEqual({ applied: true, revoked: 0 });
    expect(await s.check(sid)).toMatchObject({ status: "valid", groupsVersion: 1, identity: { groups: [RISKY] } });
  });

  it("migration 2 leaves counter-based watermarks alone", async () => {
    const userId = newUser();
    const s = sessionsFor(env, userId);
    await s.noteGroupsChanged({ groupsVersion: 7, behavior: "automatic", groups: [RISKY] });
    await runInDurableObject(stubOf(userId), (_instance, state) => asSchemaV1(state));
    await evictDurableObject(stubOf(userId));
    expect(await s.gate()).toMatchObject({ groupsVersion: 7, snapshotVersion: 7 });
  });
});

describe("UserSessions: Access logins (org session and the app sessions opened from it)", () => {
  const ORG: CreateSessionInput = { kind: "access", ttlSeconds: 3600 };

  it("an app session opens only from a live org session, and never outlives it", async () => {
    const userId = newUser();
    const org = await open(userId, { ...ORG, ttlSeconds: 120 });
    const app = await sessionsFor(env, userId).createSession({ kind: "access", appId: "app-a", parentSessionId: org, ttlSeconds: 3600 });
    expect(app.ok).toBe(true);
    const orgCheck = await checkSession(env, userId, org);
    expect(app.ok && orgCheck.status === "valid" && app.expiresAt).toBe(orgCheck.status === "valid" && orgCheck.expiresAt);

    await sessionsFor(env, userId).revokeSession(org, "logout");
    expect(await sessionsFor(env, userId).createSession({ kind: "access", appId: "app-b", parentSessionId: org, ttlSeconds: 60 })).toEqual({ ok: false, error: "parent_ended" });
    // An app session is no parent: only org sessions open others.
    const org2 = await open(userId, ORG);
    const child = await open(userId, { kind: "access", appId: "app-a", parentSessionId: org2, ttlSeconds: 60 });
    expect(await sessionsFor(env, userId).createSession({ kind: "access", appId: "app-b", parentSessionId: child, ttlSeconds: 60 })).toEqual({ ok: false, error: "parent_ended" });
    expect(await sessionsFor(env, userId).createSession({ kind: "access", appId: "app-b", parentSessionId: "no-such-session", ttlSeconds: 60 })).toEqual({ ok: false, error: "parent_ended" });
  });

  it("logout from any app ends that login everywhere, and only that login", async () => {
    const userId = newUser();
    const org = await open(userId, ORG);
    const appA = await open(userId, { kind: "access", appId: "app-a", parentSessionId: org, ttlSeconds: 60 });
    const appB = await open(userId, { kind: "access", appId: "app-b", parentSessionId: org, ttlSeconds: 60 });
    const otherBrowser = await open(userId, ORG);
    const otherApp = await open(userId, { kind: "access", appId: "app-a", parentSessionId: otherBrowser, ttlSeconds: 60 });
    const device = await open(userId, GATEWAY);

    expect(await sessionsFor(env, userId).revokeLogin(appB, "logout", "user")).toEqual({ revoked: 3 });
    for (const id of [org, appA, appB]) expect(await checkSession(env, userId, id)).toEqual({ status: "revoked", reason: "logout" });
    for (const id of [otherBrowser, otherApp, device]) expect((await checkSession(env, userId, id)).status).toBe("valid");
    expect(await sessionsFor(env, userId).revokeLogin("unknown", "logout")).toEqual({ revoked: 0 });
    expect(await sessionsFor(env, userId).revokeLogin(device, "logout")).toEqual({ revoked: 0 });
  });

  it("a logout racing app-session opens leaves no live session of that login", async () => {
    const userId = newUser();
    const org = await open(userId, ORG);
    const s = sessionsFor(env, userId);
    const opens = Array.from({ length: 10 }, (_, i) => s.createSession({ kind: "access", appId: `app-${i}`, parentSessionId: org, ttlSeconds: 60 }));
    const [logout] = await Promise.all([s.revokeLogin(org, "logout"), ...opens]);
    expect(logout.revoked).toBeGreaterThanOrEqual(1);
    const live = (await s.listSessions()).filter((x) => x.kind === "access");
    expect(live).toEqual([]);
  });
});
