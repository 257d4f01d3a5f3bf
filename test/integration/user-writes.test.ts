import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { sessionEffects } from "../../src/sessions/effects";
import { HEAL_HOLD_MS } from "../../src/sessions/user-sessions";
import { admin, checkSession, createConnection, dumpDirectory, openSession, provisionUser, scim, type TestConnection } from "../helpers";

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

afterEach(() => {
  vi.restoreAllMocks();
});

const provision = async (conn: TestConnection, userName: string): Promise<string> => (await provisionUser(conn, userName)).id;

const deactivate = (conn: TestConnection, id: string) =>
  scim(conn, "PATCH", `/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: "Replace", path: "active", value: "False" }] });
const reactivate = (conn: TestConnection, id: string) =>
  scim(conn, "PATCH", `/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: "Replace", path: "active", value: "True" }] });

describe("concurrent user writes without If-Match all succeed and lose nothing", () => {
  it("20 concurrent PUTs: all 200, the final state is exactly one of them", { timeout: 30_000 }, async () => {
    const conn = await createConnection();
    const id = await provision(conn, "put-race@example.com");
    const bodies = Array.from({ length: 20 }, (_, i) => ({ schemas: [USER], userName: "put-race@example.com", displayName: `d${i}`, title: `t${i}`, nickName: `n${i}` }));
    const responses = await Promise.all(bodies.map((b) => scim(conn, "PUT", `/Users/${id}`, b)));
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200));
    const final = (await (await scim(conn, "GET", `/Users/${id}`)).json()) as Record<string, string>;
    const i = Number(final.displayName!.slice(1));
    // No mix of two requests: every attribute comes from the same PUT.
    expect(final).toMatchObject({ displayName: `d${i}`, title: `t${i}`, nickName: `n${i}` });
    expect(final.meta).toMatchObject({ version: 'W/"21"' });
  });

  it("20 concurrent PATCH adds of different phoneNumbers to one user: all 200, all kept", { timeout: 30_000 }, async () => {
    const conn = await createConnection();
    const id = await provision(conn, "patch-race@example.com");
    const numbers = Array.from({ length: 20 }, (_, i) => `+1555000${String(i).padStart(2, "0")}`);
    const responses = await Promise.all(
      numbers.map((value) => scim(conn, "PATCH", `/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: "add", path: "phoneNumbers", value: [{ value, type: "work" }] }] })),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200));
    const final = (await (await scim(conn, "GET", `/Users/${id}`)).json()) as { phoneNumbers: { value: string }[] };
    expect(final.phoneNumbers.map((p) => p.value).sort()).toEqual(numbers);
  });

  it("a stale If-Match answers 412 and writes nothing", async () => {
    const conn = await createConnection();
    const id = await provision(conn, "etag@example.com");
    expect((await scim(conn, "PUT", `/Users/${id}`, { schemas: [USER], userName: "etag@example.com", displayName: "v2" })).status).toBe(200);
    const before = await dumpDirectory();
    const stale = await scim(conn, "PUT", `/Users/${id}`, { schemas: [USER], userName: "etag@example.com", displayName: "lost" }, { "If-Match": 'W/"1"' });
    expect(stale.status).toBe(412);
    expect(await dumpDirectory()).toEqual(before);
  });

  it("with If-Match, concurrent writers at the same version: exactly one wins, the rest get 412", async () => {
    const conn = await createConnection();
    const id = await provision(conn, "etag-race@example.com");
    const responses = await Promise.all(
      Array.from({ length: 10 }, (_, i) => scim(conn, "PUT", `/Users/${id}`, { schemas: [USER], userName: "etag-race@example.com", displayName: `e${i}` }, { "If-Match": 'W/"1"' })),
    );
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 412)).toHaveLength(9);
  });
});

describe("a deprovisioning write that D1 then refuses", () => {
  it("active=false with a colliding userName: 409, D1 unchanged, no session revoked, the user can still log in", async () => {
    const conn = await createConnection();
    await provision(conn, "taken@example.com");
    const id = await provision(conn, "victim@example.com");
    const sid = await openSession(id);
    const before = await dumpDirectory();
    const res = await scim(conn, "PUT", `/Users/${id}`, { schemas: [USER], userName: "TAKEN@example.com", active: false });
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"], status: "409", scimType: "uniqueness" });
    expect(await dumpDirectory()).toEqual(before);
    expect((await checkSession(id, sid)).status).toBe("valid");
    expect((await checkSession(id, await openSession(id))).status).toBe("valid");
    // The deactivate/reactivate cycle still works afterwards.
    expect((await deactivate(conn, id)).status).toBe(200);
    expect((await checkSession(id, sid)).status).toBe("revoked");
    await expect(openSession(id)).rejects.toThrow(/403/);
    expect((await reactivate(conn, id)).status).toBe(200);
    expect((await checkSession(id, await openSession(id))).status).toBe("valid");
  });

  it("if the batch still fails with a 4xx after the revocation, the gate is reopened for the still-active user and audited", async () => {
    const conn = await createConnection();
    const id = await provision(conn, "late-409@example.com");
    const old = await openSession(id);
    // The userName becomes taken between the pre-check and the batch (a concurrent create).
    const realDeprovision = sessionEffects.deprovision;
    vi.spyOn(sessionEffects, "deprovision").mockImplementationOnce(async (e, userId, actor) => {
      const out = await realDeprovision(e, userId, actor);
      await provision(conn, "grabbed@example.com");
      return out;
    });
    const res = await scim(conn, "PUT", `/Users/${id}`, { schemas: [USER], userName: "grabbed@example.com", active: false });
    expect(res.status).toBe(409);
    expect(await env.DB.prepare("SELECT active FROM users WHERE id = ?").bind(id).first<number>("active")).toBe(1);
    // The old session was revoked (failing closed on it is harmless), but the user can log in again.
    expect((await checkSession(id, old)).status).toBe("revoked");
    expect((await checkSession(id, await openSession(id))).status).toBe("valid");
    const audit = await env.DB.prepare("SELECT actor, details FROM audit_log WHERE action = 'user.gate_reopened' AND target_id = ?").bind(id).first<{ actor: string; details: string }>();
    expect(audit?.actor).toBe(`scim:${conn.id}`);
    // No audit row claims a revocation that D1 never recorded as a deactivation.
    expect(await env.DB.prepare("SELECT count(*) AS n FROM audit_log WHERE action = 'sessions.revoke_all' AND target_id = ?").bind(id).first<number>("n")).toBe(0);
  });

  it("an explicit active=true reopens a gate left closed while D1 says active", async () => {
    const conn = await createConnection();
    const id = await provision(conn, "stuck@example.com");
    await sessionEffects.deprovision(env, id, "test"); // e.g. a compensation that itself failed
    await expect(openSession(id)).rejects.toThrow(/403/);
    expect((await reactivate(conn, id)).status).toBe(200);
    expect((await checkSession(id, await openSession(id))).status).toBe("valid");
  });

  it.each([
    ["the attribute named with its schema URN", { Operations: [{ op: "replace", path: "urn:ietf:params:scim:schemas:core:2.0:User:active", value: true }] }],
    ["a path-less value with a capitalised key (Entra)", { Operations: [{ op: "Replace", value: { Active: true } }] }],
    ["capitalised member names", { Operations: [{ Op: "Replace", Path: "active", Value: true }] }],
  ])("a PATCH setting active=true heals the gate whatever its dialect: %s", async (_name, patch) => {
    const conn = await createConnection();
    const id = await provision(conn, `stuck-${crypto.randomUUID().slice(0, 6)}@example.com`);
    await sessionEffects.deprovision(env, id, "test");
    expect((await scim(conn, "PATCH", `/Users/${id}`, { schemas: [PATCH_OP], ...patch })).status).toBe(200);
    expect((await checkSession(id, await openSession(id))).status).toBe("valid");
  });
});

describe("a repeated active=true never undoes a concurrent deactivation", () => {
  // Okta re-sends a user with active:true on every profile push; with "active=true always reopens the
  // gate", such a no-op could land between a deactivation closing the gate and that deactivation's
  // D1 commit, and reopen the gate for a login that read D1 just before the commit.
  const push = (conn: TestConnection, id: string, userName: string) =>
    scim(conn, "PUT", `/Users/${id}`, { schemas: [USER], userName, active: true, emails: [{ value: userName, primary: true }] });

  it("while a deactivation deciding at a newer version is in flight, the gate stays closed", async () => {
    const conn = await createConnection();
    const id = await provision(conn, "heal-race@example.com"); // D1 version 1
    // A deactivation has revoked and closed the gate, deciding version 2, and is about to write D1.
    await sessionEffects.deprovision(env, id, `scim:${conn.id}`, 2);
    expect((await push(conn, id, "heal-race@example.com")).status).toBe(200);
    await expect(openSession(id)).rejects.toThrow(/403/);
    // The deactivation commits: D1 and the gate agree.
    await env.DB.prepare("UPDATE users SET active = 0, version = 2 WHERE id = ?").bind(id).run();
    await expect(openSession(id)).rejects.toThrow(/403/);
  });

  it("a newer decision that never committed stops holding the heal back once it is stale", async () => {
    const conn = await createConnection();
    const id = await provision(conn, "heal-late@example.com");
    await sessionEffects.deprovision(env, id, `scim:${conn.id}`, 2); // its D1 write then failed, and so did the compensation
    const stub = env.USER_SESSIONS.getByName(id);
    await runInDurableObject(stub, (_instance, state) => {
      state.storage.sql.exec("UPDATE gate SET directory_decided_at = ?", Date.now() - HEAL_HOLD_MS - 1);
    });
    await evictDurableObject(stub); // the object reads its gate back from storage
    expect((await push(conn, id, "heal-late@example.com")).status).toBe(200);
    expect((await checkSession(id, await openSession(id))).status).toBe("valid");
  });
});

describe("connection settings apply to the very next deprovisioning", () => {
  it("user_deprovision turned on through the admin API: the next deactivation revokes", async () => {
    const conn = await createConnection({ scim_config: { user_deprovision: false } });
    const id = await provision(conn, "flip-on@example.com");
    const sid = await openSession(id);
    const flip = await admin("PATCH", `/api/v1/access/identity_providers/${conn.id}`, { scim_config: { user_deprovision: true } });
    expect(flip.status).toBe(200);
    expect((await deactivate(conn, id)).status).toBe(200);
    expect(await checkSession(id, sid)).toMatchObject({ status: "revoked", reason: "deprovisioned" });
  });

  it("changed by another isolate (D1 updated behind this isolate's connection cache): still applied at once", async () => {
    const conn = await createConnection({ scim_config: { user_deprovision: false } });
    const id = await provision(conn, "flip-elsewhere@example.com");
    const sid = await openSession(id);
    expect((await scim(conn, "GET", `/Users/${id}`)).status).toBe(200); // warms any per-isolate cache
    await env.DB.prepare("UPDATE identity_providers SET user_deprovision = 1 WHERE id = ?").bind(conn.id).run();
    expect((await deactivate(conn, id)).status).toBe(200);
    expect(await checkSession(id, sid)).toMatchObject({ status: "revoked", reason: "deprovisioned" });
  });

  it("scim_enabled turned off by the time the deactivation runs: 401, nothing revoked, D1 unchanged", async () => {
    const conn = await createConnection();
    const id = await provision(conn, "disabled-mid@example.com");
    const sid = await openSession(id);
    // Disabled after this request authenticated (the check before the object reads D1 again).
    const realDeprovision = sessionEffects.deprovision;
    const spy = vi.spyOn(sessionEffects, "deprovision").mockImplementation((e, u, a) => realDeprovision(e, u, a));
    const before = await dumpDirectory();
    await env.DB.prepare("UPDATE identity_providers SET scim_enabled = 0 WHERE id = ?").bind(conn.id).run();
    const after = await dumpDirectory();
    const res = await deactivate(conn, id);
    expect(res.status).toBe(401);
    expect(spy).not.toHaveBeenCalled();
    expect(await dumpDirectory()).toEqual(after);
    expect(before.users).toEqual(after.users);
    expect((await checkSession(id, sid)).status).toBe("valid");
  });

  it("user_deprovision turned off: the next deactivation keeps sessions (only new logins are refused)", async () => {
    const conn = await createConnection();
    const id = await provision(conn, "flip-off@example.com");
    const sid = await openSession(id);
    expect((await scim(conn, "GET", `/Users/${id}`)).status).toBe(200);
    await env.DB.prepare("UPDATE identity_providers SET user_deprovision = 0 WHERE id = ?").bind(conn.id).run();
    expect((await deactivate(conn, id)).status).toBe(200);
    expect((await checkSession(id, sid)).status).toBe("valid");
    await expect(openSession(id)).rejects.toThrow(/403/);
  });
});
