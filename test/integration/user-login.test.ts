import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { sessionsFor } from "../../src/sessions/client";
import { openSession } from "../../src/sessions/service";
import { createConnection, scim } from "../helpers";

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group";

async function userInGroup(): Promise<{ userId: string; groupId: string }> {
  const conn = await createConnection();
  const user = (await (await scim(conn, "POST", "/Users", { schemas: [USER], userName: `login-${crypto.randomUUID().slice(0, 6)}@example.com` })).json()) as { id: string };
  const group = (await (await scim(conn, "POST", "/Groups", { schemas: [GROUP], displayName: `g-${crypto.randomUUID().slice(0, 6)}`, members: [{ value: user.id }] })).json()) as { id: string };
  return { userId: user.id, groupId: group.id };
}

describe("openSession reads groups and groups_version in one snapshot", () => {
  it("the session carries the user's D1 groups_version with its groups", async () => {
    const { userId, groupId } = await userInGroup();
    await env.DB.prepare("UPDATE users SET groups_version = 7 WHERE id = ?").bind(userId).run();
    const res = await openSession(env, userId, { kind: "access", ttlSeconds: 60 });
    expect(res.ok).toBe(true);
    if (!res.ok) return;
    expect(await sessionsFor(env, userId).check(res.sessionId)).toMatchObject({ status: "valid", groupsVersion: 7, identity: { groups: [{ id: groupId }] } });
  });

  it("a change the object saw without groups (no_action) makes a stale login re-read; a login never takes older groups", async () => {
    const { userId } = await userInGroup();
    await env.DB.prepare("UPDATE users SET groups_version = 3 WHERE id = ?").bind(userId).run();
    // The object has already heard of version 4 (committed in D1 meanwhile, seen here on re-read).
    await sessionsFor(env, userId).noteGroupsChanged({ groupsVersion: 4, behavior: "no_action", groups: [] });
    expect(await openSession(env, userId, { kind: "access", ttlSeconds: 60 })).toEqual({ ok: false, error: "stale_groups" });
    await env.DB.prepare("UPDATE users SET groups_version = 4 WHERE id = ?").bind(userId).run();
    const res = await openSession(env, userId, { kind: "access", ttlSeconds: 60 });
    expect(res.ok).toBe(true);
  });

  it("an unknown or inactive user is refused and gets no session index row", async () => {
    expect(await openSession(env, "nobody", { kind: "access", ttlSeconds: 60 })).toEqual({ ok: false, error: "unknown_user" });
    const { userId } = await userInGroup();
    await env.DB.prepare("UPDATE users SET active = 0 WHERE id = ?").bind(userId).run();
    expect(await openSession(env, userId, { kind: "access", ttlSeconds: 60 })).toEqual({ ok: false, error: "inactive" });
    expect(await env.DB.prepare("SELECT count(*) AS n FROM session_index WHERE user_id IN (?, ?)").bind("nobody", userId).first<number>("n")).toBe(0);
  });
});
