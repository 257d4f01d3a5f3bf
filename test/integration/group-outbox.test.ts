import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { sessionEffects } from "../../src/sessions/effects";
import { checkSession, createConnection, openSession, scim, type TestConnection } from "../helpers";

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

afterEach(() => {
  vi.restoreAllMocks();
});

async function users(conn: TestConnection, names: string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const n of names) ids.push(((await (await scim(conn, "POST", "/Users", { schemas: [USER], userName: `${n}-${conn.id.slice(0, 6)}@example.com` })).json()) as { id: string }).id);
  return ids;
}

async function group(conn: TestConnection, name: string, members: string[]): Promise<string> {
  const res = await scim(conn, "POST", "/Groups", { schemas: [GROUP], displayName: name, members: members.map((value) => ({ value })) });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

const patch = (conn: TestConnection, g: string, Operations: unknown[]) => scim(conn, "PATCH", `/Groups/${g}`, { schemas: [PATCH_OP], Operations });

async function versions(ids: string[]): Promise<number[]> {
  const out: number[] = [];
  for (const id of ids) out.push((await env.DB.prepare("SELECT groups_version FROM users WHERE id = ?").bind(id).first<number>("groups_version"))!);
  return out;
}

async function outboxRows(idpId: string) {
  return (await env.DB.prepare("SELECT id, attempts, last_error FROM identity_outbox WHERE idp_id = ?").bind(idpId).all<{ id: string; attempts: number; last_error: string | null }>()).results;
}

/** Runs the Worker's cron handler as Cloudflare would, `aheadMs` in the future. */
async function runCron(aheadMs: number, cron = "* * * * *") {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ scheduledTime: Date.now() + aheadMs, cron }), env, ctx);
  await waitOnExecutionContext(ctx);
}

describe("group changes are recorded in the outbox in the write's own batch (fail-closed)", () => {
  it("a failed dispatch leaves an outbox row; the cron re-drive revokes the removed member (reauth)", async () => {
    const conn = await createConnection({ scim_config: { identity_update_behavior: "reauth" } });
    const [a, b] = await users(conn, ["a", "b"]);
    const g = await group(conn, "risky", [a!, b!]);
    const sid = await openSession(a!);
    // Neither the inline delivery nor the queue works.
    vi.spyOn(sessionEffects, "noteGroupsChanged").mockRejectedValue(new Error("Durable Object overloaded"));
    const send = vi.spyOn(env.IDENTITY_CHANGES, "sendBatch").mockRejectedValue(new Error("queue unavailable"));
    const res = await patch(conn, g, [{ op: "remove", path: `members[value eq "${a}"]` }]);
    // The change is committed and its revocation durably recorded: an IdP retry would change nothing.
    expect(res.status).toBe(204);
    expect(send).toHaveBeenCalled();
    const rows = await outboxRows(conn.id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ attempts: 1, last_error: "queue unavailable" });
    expect((await checkSession(a!, sid)).status).toBe("valid"); // not yet: dispatch failed
    vi.restoreAllMocks();
    await runCron(30_000); // not due yet (first re-drive after a minute)
    expect(await outboxRows(conn.id)).toHaveLength(1);
    await runCron(5 * 60_000);
    expect(await checkSession(a!, sid)).toMatchObject({ status: "revoked", reason: "groups_changed" });
    expect(await outboxRows(conn.id)).toEqual([]);
  });

  it("the cron backs off a row that keeps failing and records the error", async () => {
    const conn = await createConnection({ scim_config: { identity_update_behavior: "reauth" } });
    const [a] = await users(conn, ["a"]);
    const g = await group(conn, "flaky", []);
    await openSession(a!);
    vi.spyOn(sessionEffects, "noteGroupsChanged").mockRejectedValue(new Error("still down"));
    vi.spyOn(env.IDENTITY_CHANGES, "sendBatch").mockRejectedValue(new Error("queue down"));
    expect((await patch(conn, g, [{ op: "add", path: "members", value: [{ value: a }] }])).status).toBe(204);
    await runCron(5 * 60_000);
    const [row] = await outboxRows(conn.id);
    expect(row).toMatchObject({ attempts: 2, last_error: "queue down" });
    const next = await env.DB.prepare("SELECT next_attempt_at FROM identity_outbox WHERE id = ?").bind(row!.id).first<string>("next_attempt_at");
    expect(Date.parse(next!)).toBeGreaterThan(Date.now() + 5 * 60_000);
  });

  it("two back-to-back changes to one user under reauth both revoke, with per-user versions 1, 2, … (no clock collisions)", async () => {
    const conn = await createConnection({ scim_config: { identity_update_behavior: "reauth" } });
    const [a] = await users(conn, ["a"]);
    const g = await group(conn, "twice", []);
    expect(await versions([a!])).toEqual([0]);
    const delivered = vi.spyOn(sessionEffects, "noteGroupsChanged");
    const first = await openSession(a!);
    expect((await patch(conn, g, [{ op: "add", path: "members", value: [{ value: a }] }])).status).toBe(204);
    expect((await checkSession(a!, first)).status).toBe("revoked");
    const second = await openSession(a!);
    expect((await patch(conn, g, [{ op: "remove", path: `members[value eq "${a}"]` }])).status).toBe(204);
    expect(await checkSession(a!, second)).toMatchObject({ status: "revoked", reason: "groups_changed" });
    expect(delivered.mock.calls.map(([, , change]) => change.groupsVersion)).toEqual([1, 2]);
    expect(await versions([a!])).toEqual([2]);
  });

  it("a PUT replace records, bumps and revokes only the symmetric difference", async () => {
    const conn = await createConnection({ scim_config: { identity_update_behavior: "reauth" } });
    const [a, b, c, d] = await users(conn, ["a", "b", "c", "d"]);
    const g = await group(conn, "okta push", [a!, b!, c!]);
    const before = await versions([a!, b!, c!, d!]);
    const sessions = [await openSession(a!), await openSession(b!), await openSession(c!), await openSession(d!)];
    const delivered = vi.spyOn(sessionEffects, "noteGroupsChanged");
    const res = await scim(conn, "PUT", `/Groups/${g}`, { schemas: [GROUP], displayName: "okta push", members: [{ value: b }, { value: c }, { value: d }] });
    expect(res.status).toBe(200);
    expect(delivered.mock.calls.map(([, userId]) => userId).sort()).toEqual([a!, d!].sort());
    const after = await versions([a!, b!, c!, d!]);
    expect(after.map((v, i) => v - before[i]!)).toEqual([1, 0, 0, 1]);
    const statuses = await Promise.all([a, b, c, d].map((u, i) => checkSession(u!, sessions[i]!)));
    expect(statuses.map((s) => s.status)).toEqual(["revoked", "valid", "valid", "revoked"]);
    // Okta re-pushing the same list changes nobody.
    delivered.mockClear();
    await scim(conn, "PUT", `/Groups/${g}`, { schemas: [GROUP], displayName: "okta push", members: [{ value: b }, { value: c }, { value: d }] });
    expect(delivered).not.toHaveBeenCalled();
    expect(await versions([a!, b!, c!, d!])).toEqual(after);
    expect(await outboxRows(conn.id)).toEqual([]);
  });

  it("deleting a group revokes its former members' sessions (reauth), nobody else's", async () => {
    const conn = await createConnection({ scim_config: { identity_update_behavior: "reauth" } });
    const [a, b, outsider] = await users(conn, ["a", "b", "outsider"]);
    const g = await group(conn, "doomed", [a!, b!]);
    const sessions = [await openSession(a!), await openSession(b!), await openSession(outsider!)];
    expect((await scim(conn, "DELETE", `/Groups/${g}`)).status).toBe(204);
    const statuses = await Promise.all([a, b, outsider].map((u, i) => checkSession(u!, sessions[i]!)));
    expect(statuses.map((s) => s.status)).toEqual(["revoked", "revoked", "valid"]);
    expect(await versions([a!, b!, outsider!])).toEqual([2, 2, 0]);
    expect(await outboxRows(conn.id)).toEqual([]);
  });

  it("a no-op member add records nothing and bumps nobody", async () => {
    const conn = await createConnection({ scim_config: { identity_update_behavior: "reauth" } });
    const [a] = await users(conn, ["a"]);
    const g = await group(conn, "same", [a!]);
    const sid = await openSession(a!);
    expect((await patch(conn, g, [{ op: "add", path: "members", value: [{ value: a }] }])).status).toBe(204);
    expect((await checkSession(a!, sid)).status).toBe("valid");
    expect(await versions([a!])).toEqual([1]);
    expect(await outboxRows(conn.id)).toEqual([]);
  });

  it("a member who never signed in is owed no fan-out (no outbox row, no object call), but the version moves", async () => {
    const conn = await createConnection({ scim_config: { identity_update_behavior: "reauth" } });
    const [a] = await users(conn, ["never-signed-in"]);
    const g = await group(conn, "fresh", []);
    const delivered = vi.spyOn(sessionEffects, "noteGroupsChanged");
    const send = vi.spyOn(env.IDENTITY_CHANGES, "sendBatch");
    expect((await patch(conn, g, [{ op: "add", path: "members", value: [{ value: a }] }])).status).toBe(204);
    expect(delivered).not.toHaveBeenCalled();
    expect(send).not.toHaveBeenCalled();
    expect(await versions([a!])).toEqual([1]);
    expect(await outboxRows(conn.id)).toEqual([]);
    // Their first login reads the new groups.
    const sid = await openSession(a!);
    expect(((await checkSession(a!, sid)).identity as { groups: { name: string }[] }).groups.map((x) => x.name)).toEqual(["fresh"]);
  });

  it("no_action: versions move with the directory, but no outbox row is kept and no session object is called", async () => {
    const conn = await createConnection({ scim_config: { identity_update_behavior: "no_action" } });
    const [a] = await users(conn, ["a"]);
    const g = await group(conn, "quiet", []);
    await openSession(a!);
    const delivered = vi.spyOn(sessionEffects, "noteGroupsChanged");
    expect((await patch(conn, g, [{ op: "add", path: "members", value: [{ value: a }] }])).status).toBe(204);
    expect(delivered).not.toHaveBeenCalled();
    expect(await versions([a!])).toEqual([1]);
    expect(await outboxRows(conn.id)).toEqual([]);
  });

  it("a rename bumps every member (their group names changed) and refreshes them (automatic)", async () => {
    const conn = await createConnection({ scim_config: { identity_update_behavior: "automatic" } });
    const [a, b] = await users(conn, ["a", "b"]);
    const g = await group(conn, "old", [a!, b!]);
    expect((await patch(conn, g, [{ op: "replace", path: "displayName", value: "new" }])).status).toBe(204);
    expect(await versions([a!, b!])).toEqual([2, 2]);
  });
});
