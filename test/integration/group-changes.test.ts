import { createExecutionContext, createMessageBatch, getQueueResult, listDurableObjectIds } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { sessionEffects } from "../../src/sessions/effects";
import type { IdentityChangeMessage } from "../../src/sessions/fanout";
import { admin, checkSession, createConnection, openSession, scim, type TestConnection } from "../helpers";

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

afterEach(() => {
  vi.restoreAllMocks();
});

type Behavior = "automatic" | "reauth" | "no_action";

async function setup(behavior: Behavior) {
  const conn = await createConnection({ scim_config: { identity_update_behavior: behavior } });
  const ids: string[] = [];
  for (const name of ["u1@example.com", "u2@example.com"]) {
    const res = await scim(conn, "POST", "/Users", { schemas: [USER], userName: name });
    ids.push(((await res.json()) as { id: string }).id);
  }
  const g = await scim(conn, "POST", "/Groups", { schemas: [GROUP], displayName: "risky", members: [{ value: ids[0] }] });
  const groupId = ((await g.json()) as { id: string }).id;
  const sessions = [await openSession(ids[0]!), await openSession(ids[1]!, "gateway")];
  return { conn, ids: ids as [string, string], groupId, sessions: sessions as [string, string] };
}

const changes: [string, (conn: TestConnection, groupId: string, ids: [string, string]) => Promise<Response>, ("u1" | "u2")[]][] = [
  ["add u2", (conn, g, [, u2]) => scim(conn, "PATCH", `/Groups/${g}`, { schemas: [PATCH_OP], Operations: [{ op: "add", path: "members", value: [{ value: u2 }] }] }), ["u2"]],
  ["remove u1", (conn, g, [u1]) => scim(conn, "PATCH", `/Groups/${g}`, { schemas: [PATCH_OP], Operations: [{ op: "remove", path: `members[value eq "${u1}"]` }] }), ["u1"]],
  ["replace with u2", (conn, g, [, u2]) => scim(conn, "PATCH", `/Groups/${g}`, { schemas: [PATCH_OP], Operations: [{ op: "replace", path: "members", value: [{ value: u2 }] }] }), ["u1", "u2"]],
];

describe("identity_update_behavior on group membership changes", () => {
  describe.each(["reauth", "automatic", "no_action"] as const)("%s", (behavior) => {
    it.each(changes)("%s", async (_name, change, affected) => {
      const { conn, ids, groupId, sessions } = await setup(behavior);
      const res = await change(conn, groupId, ids);
      expect(res.status).toBe(204);
      const expectedGroups = { u1: _name === "add u2" ? ["risky"] : [], u2: _name === "remove u1" ? [] : ["risky"] };
      const before = { u1: ["risky"], u2: [] as string[] };
      for (const [i, who] of (["u1", "u2"] as const).entries()) {
        const result = await checkSession(ids[i]!, sessions[i]!);
        const touched = affected.includes(who);
        if (behavior === "reauth" && touched) {
          expect(result).toMatchObject({ status: "revoked", reason: "groups_changed" });
          continue;
        }
        expect(result.status).toBe("valid");
        const groups = ((result.identity as { groups: { name: string }[] }).groups ?? []).map((g) => g.name);
        // automatic: the next check sees the new groups; no_action: nothing changes until the session ends.
        expect(groups).toEqual(behavior === "automatic" ? expectedGroups[who] : before[who]);
      }
    });
  });

  it("a reauth revocation is audited with the connection that triggered it and the behaviour", async () => {
    const { conn, ids, groupId } = await setup("reauth");
    await changes[0]![1](conn, groupId, ids);
    const res = await admin("GET", "/api/v1/audit_logs?action=sessions.revoke_groups_changed");
    const rows = ((await res.json()) as { result: { actor: string; details: { behavior: string; users: string[] } }[] }).result;
    expect(rows.find((r) => r.details.users.includes(ids[1]))).toMatchObject({ actor: `scim:${conn.id}`, details: { behavior: "reauth" } });
  });

  it("after a reauth revocation the user can sign in again and gets the new groups", async () => {
    const { conn, ids, groupId } = await setup("reauth");
    await changes[0]![1](conn, groupId, ids);
    const fresh = await openSession(ids[1]);
    const result = await checkSession(ids[1], fresh);
    expect(result.status).toBe("valid");
    expect((result.identity as { groups: { name: string }[] }).groups.map((g) => g.name)).toEqual(["risky"]);
  });

  it("a group rename refreshes members' group names (automatic)", async () => {
    const { conn, ids, groupId, sessions } = await setup("automatic");
    const res = await scim(conn, "PATCH", `/Groups/${groupId}`, { schemas: [PATCH_OP], Operations: [{ op: "replace", value: { id: groupId, displayName: "very risky" } }] });
    expect(res.status).toBe(204);
    const result = await checkSession(ids[0], sessions[0]);
    expect((result.identity as { groups: { name: string }[] }).groups.map((g) => g.name)).toEqual(["very risky"]);
  });
});

/**
 * Marks users of a connection as having signed in once (a `session_index` row, as a login writes):
 * only such users are owed a fan-out, so a large one needs many of them.
 */
async function signedInBefore(idpId: string, except: string[] = []): Promise<void> {
  await env.DB.prepare(
    `INSERT INTO session_index (user_id, scope, last_opened_at) SELECT id, 'access:elsewhere', ? FROM users
     WHERE idp_id = ? AND id NOT IN (SELECT value FROM json_each(?)) ON CONFLICT DO NOTHING`,
  )
    .bind(new Date().toISOString(), idpId, JSON.stringify(except))
    .run();
}

describe("large fan-out through the queue", () => {
  it.each([
    ["reauth", { status: "revoked" }],
    ["automatic", { status: "valid", groups: [] }],
    ["no_action", { status: "valid", groups: ["everyone"] }],
  ] as const)("replacing the members of a 150-user group (%s) reaches removed members through the queue", { timeout: 30_000 }, async (behavior, expected) => {
    const conn = await createConnection({ scim_config: { identity_update_behavior: behavior } });
    const seeded = await admin("POST", "/__dev/bench/seed", { idp_id: conn.id, prefix: `q-${behavior.replace("_", "")}`, users: { from: 1, count: 150 }, group: { display_name: "everyone", size: 150 } });
    const groupId = ((await seeded.json()) as { result: { group_id: string } }).result.group_id;
    const removed = `q-${behavior.replace("_", "")}-0000007`;
    const sid = await openSession(removed);
    await signedInBefore(conn.id);
    const send = vi.spyOn(env.IDENTITY_CHANGES, "sendBatch");
    const res = await scim(conn, "PATCH", `/Groups/${groupId}?excludedAttributes=members`, {
      schemas: [PATCH_OP],
      Operations: [{ op: "replace", path: "members", value: [{ value: `q-${behavior.replace("_", "")}-0000001` }] }],
    });
    expect(res.status).toBe(200);
    if (behavior === "no_action") {
      expect(send).not.toHaveBeenCalled();
    } else {
      expect(send).toHaveBeenCalled();
    }
    await vi.waitFor(
      async () => {
        const result = await checkSession(removed, sid);
        expect(result.status).toBe(expected.status);
        if ("groups" in expected) expect((result.identity as { groups: { name: string }[] }).groups.map((g) => g.name)).toEqual(expected.groups);
      },
      { timeout: 25_000, interval: 100 },
    );
  });

  it("deleting a group of 150 users answers at once; the queue revokes members' sessions (reauth)", { timeout: 30_000 }, async () => {
    const conn = await createConnection({ scim_config: { identity_update_behavior: "reauth" } });
    const seeded = await admin("POST", "/__dev/bench/seed", { idp_id: conn.id, users: { from: 1, count: 150 }, group: { display_name: "everyone", size: 150 } });
    const groupId = ((await seeded.json()) as { result: { group_id: string } }).result.group_id;
    const member = "bench-u-0000042";
    const outsider = "bench-u-0000149";
    const sid = await openSession(member);
    await signedInBefore(conn.id, [outsider]);
    const send = vi.spyOn(env.IDENTITY_CHANGES, "sendBatch");
    const res = await scim(conn, "DELETE", `/Groups/${groupId}`);
    expect(res.status).toBe(204);
    expect(send).toHaveBeenCalledTimes(1);
    await vi.waitFor(async () => expect((await checkSession(member, sid)).status).toBe("revoked"), { timeout: 25_000, interval: 100 });
    const check = await checkSession(member, sid);
    expect(check).toMatchObject({ reason: "groups_changed" });
    // The consumer strikes delivered users off the outbox row and deletes it when none is left.
    await vi.waitFor(async () => expect(await env.DB.prepare("SELECT count(*) AS n FROM identity_outbox WHERE idp_id = ?").bind(conn.id).first<number>("n")).toBe(0), {
      timeout: 25_000,
      interval: 100,
    });
    // Users who never signed in are skipped (their next login reads the directory afresh): no object is created for them.
    const objects = (await listDurableObjectIds(env.USER_SESSIONS)).map((id) => id.toString());
    expect(objects).toContain(env.USER_SESSIONS.idFromName(member).toString());
    expect(objects).not.toContain(env.USER_SESSIONS.idFromName(outsider).toString());
  });

  it("the consumer is idempotent: a redelivered change does not revoke a session opened after it", async () => {
    const conn = await createConnection({ scim_config: { identity_update_behavior: "reauth" } });
    const res = await scim(conn, "POST", "/Users", { schemas: [USER], userName: "redeliver@example.com" });
    const userId = ((await res.json()) as { id: string }).id;
    const before = await openSession(userId);
    // A real change: the user joins a group (users.groups_version 0 → 1), delivered inline.
    const g = await scim(conn, "POST", "/Groups", { schemas: [GROUP], displayName: "joined", members: [{ value: userId }] });
    expect(g.status).toBe(201);
    expect((await checkSession(userId, before)).status).toBe("revoked");
    // The same change redelivered by the queue (with an outbox id already drained, and in the
    // pre-outbox shape with a clock version): it carries the version the object has applied.
    const bodies: IdentityChangeMessage[] = [
      { type: "groups_changed", userIds: [userId], behavior: "reauth", actor: `scim:${conn.id}`, outboxId: crypto.randomUUID() },
      { type: "groups_changed", userIds: [userId], groupsVersion: Date.now() * 1000, behavior: "reauth", actor: `scim:${conn.id}` },
    ];
    const deliver = async (body: IdentityChangeMessage) => {
      const batch = createMessageBatch<IdentityChangeMessage>("zt-identity-changes", [{ id: crypto.randomUUID(), timestamp: new Date(), attempts: 1, body }]);
      const ctx = createExecutionContext();
      await worker.queue(batch, env, ctx);
      return getQueueResult(batch, ctx);
    };
    const after = await openSession(userId);
    for (const body of bodies) expect((await deliver(body)).explicitAcks).toHaveLength(1);
    expect((await checkSession(userId, after)).status).toBe("valid");
  });

  it("a failing Durable Object call makes the consumer retry the message", async () => {
    const conn = await createConnection();
    const res = await scim(conn, "POST", "/Users", { schemas: [USER], userName: "retry@example.com" });
    const userId = ((await res.json()) as { id: string }).id;
    await openSession(userId);
    vi.spyOn(sessionEffects, "noteGroupsChanged").mockRejectedValueOnce(new Error("overloaded"));
    const batch = createMessageBatch<IdentityChangeMessage>("zt-identity-changes", [
      { id: "m1", timestamp: new Date(), attempts: 1, body: { type: "groups_changed", userIds: [userId], behavior: "automatic", actor: "test" } },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks).toEqual([]);
    expect(result.retryMessages.map((m) => m.msgId)).toEqual(["m1"]);
  });
});
