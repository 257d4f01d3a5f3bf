import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { sessionEffects } from "../../src/sessions/effects";
import { admin, checkSession, createConnection, openSession, provisionUser, scim, type TestConnection } from "../helpers";

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

afterEach(() => {
  vi.restoreAllMocks();
});

const provision = async (conn: TestConnection, userName: string): Promise<string> => (await provisionUser(conn, userName)).id;

async function activeInD1(userId: string): Promise<boolean | null> {
  const v = await env.DB.prepare("SELECT active FROM users WHERE id = ?").bind(userId).first<number>("active");
  return v === null ? null : v === 1;
}

const deactivations: [string, (conn: TestConnection, id: string) => Promise<Response>][] = [
  ["Entra PATCH Replace active \"False\"", (conn, id) => scim(conn, "PATCH", `/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: "Replace", path: "active", value: "False" }] })],
  ["Okta PATCH path-less replace", (conn, id) => scim(conn, "PATCH", `/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: "replace", value: { active: false } }] })],
  ["PUT active=false", (conn, id) => scim(conn, "PUT", `/Users/${id}`, { schemas: [USER], userName: "dep@example.com", active: false })],
  ["DELETE", (conn, id) => scim(conn, "DELETE", `/Users/${id}`)],
];

describe("deprovisioning revokes every session before the SCIM response", () => {
  it.each(deactivations)("%s: every Access and Gateway session fails its next check", async (_name, deactivate) => {
    const conn = await createConnection();
    const id = await provision(conn, "dep@example.com");
    const sessions = [await openSession(id, "access", { app_id: "app-1" }), await openSession(id, "access"), await openSession(id, "gateway")];
    for (const sid of sessions) expect((await checkSession(id, sid)).status).toBe("valid");
    const res = await deactivate(conn, id);
    expect(res.status).toBeLessThan(300);
    for (const sid of sessions) expect(await checkSession(id, sid)).toMatchObject({ status: "revoked", reason: "deprovisioned" });
    const audit = await env.DB.prepare("SELECT actor, details FROM audit_log WHERE action = 'sessions.revoke_all' AND target_id = ?").bind(id).first<{ actor: string; details: string }>();
    expect(audit?.actor).toBe(`scim:${conn.id}`);
    expect(JSON.parse(audit!.details)).toMatchObject({ revoked: 3 });
  });

  it("reactivation lets the user sign in again; old sessions stay revoked", async () => {
    const conn = await createConnection();
    const id = await provision(conn, "back@example.com");
    const old = await openSession(id);
    await deactivations[0]![1](conn, id);
    await expect(openSession(id)).rejects.toThrow(/403/);
    const res = await scim(conn, "PATCH", `/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: "Replace", path: "active", value: "True" }] });
    expect(res.status).toBe(200);
    const fresh = await openSession(id);
    expect((await checkSession(id, fresh)).status).toBe("valid");
    expect((await checkSession(id, old)).status).toBe("revoked");
  });

  it("with user_deprovision off, deactivation only refuses new logins (Cloudflare's behaviour)", async () => {
    const conn = await createConnection({ scim_config: { user_deprovision: false } });
    const id = await provision(conn, "keep@example.com");
    const sid = await openSession(id);
    await deactivations[1]![1](conn, id);
    expect((await checkSession(id, sid)).status).toBe("valid");
    await expect(openSession(id)).rejects.toThrow(/403/);
  });

  it("a Durable Object failure during revoke answers 503 and changes nothing in D1; the retry revokes", async () => {
    const conn = await createConnection();
    const id = await provision(conn, "flaky@example.com");
    const sid = await openSession(id);
    vi.spyOn(sessionEffects, "deprovision").mockRejectedValueOnce(new Error("Durable Object reset"));
    const failed = await deactivations[0]![1](conn, id);
    expect(failed.status).toBe(503);
    expect(await failed.json()).toMatchObject({ schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"], status: "503" });
    expect(await activeInD1(id)).toBe(true);
    expect((await checkSession(id, sid)).status).toBe("valid");
    const retry = await deactivations[0]![1](conn, id);
    expect(retry.status).toBe(200);
    expect(await activeInD1(id)).toBe(false);
    expect((await checkSession(id, sid)).status).toBe("revoked");
  });

  it("a D1 failure after the revoke answers 5xx; sessions stay revoked and the retry converges", async () => {
    const conn = await createConnection();
    const id = await provision(conn, "d1fail@example.com");
    const sid = await openSession(id);
    // A real storage fault: the users UPDATE aborts inside D1.
    await env.DB.prepare("CREATE TRIGGER inject_failure BEFORE UPDATE ON users WHEN NEW.active = 0 BEGIN SELECT RAISE(ABORT, 'injected fault'); END").run();
    const failed = await deactivations[0]![1](conn, id);
    expect(failed.status).toBeGreaterThanOrEqual(500);
    expect((await checkSession(id, sid)).status).toBe("revoked");
    expect(await activeInD1(id)).toBe(true);
    await env.DB.prepare("DROP TRIGGER inject_failure").run();
    const retry = await deactivations[0]![1](conn, id);
    expect(retry.status).toBe(200);
    expect(await activeInD1(id)).toBe(false);
    await expect(openSession(id)).rejects.toThrow(/403/);
  });

  it("500 checks in flight while deactivating: none that starts after the SCIM response succeeds", async () => {
    const conn = await createConnection();
    const id = await provision(conn, "race@example.com");
    const sids = await Promise.all(Array.from({ length: 10 }, () => openSession(id)));
    let responded = false;
    const late: string[] = [];
    const checks = Array.from({ length: 500 }, async (_, i) => {
      await new Promise((r) => setTimeout(r, i % 50));
      const startedAfter = responded;
      const result = await checkSession(id, sids[i % sids.length]!);
      if (startedAfter && result.status === "valid") late.push(`${i}`);
      return { startedAfter, status: result.status };
    });
    await new Promise((r) => setTimeout(r, 10));
    const res = await deactivations[1]![1](conn, id);
    responded = true;
    expect(res.status).toBe(200);
    const results = await Promise.all(checks);
    expect(late).toEqual([]);
    expect(results.filter((r) => r.startedAfter).length).toBeGreaterThan(0);
  });
});

describe("admin revocation API", () => {
  it("revoke_user ends every session of that email across connections; the user can log in again", async () => {
    const a = await createConnection();
    const b = await createConnection();
    const ua = await provision(a, "both@example.com");
    const ub = await provision(b, "Both@Example.com");
    const sa = await openSession(ua);
    const sb = await openSession(ub, "gateway");
    const res = await admin("POST", "/api/v1/access/organizations/revoke_user", { email: "BOTH@example.com" });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ success: true, result: true, revoked: { users: 2, sessions: 2 } });
    expect((await checkSession(ua, sa)).status).toBe("revoked");
    expect((await checkSession(ub, sb)).status).toBe("revoked");
    expect((await checkSession(ua, await openSession(ua))).status).toBe("valid");
    const audit = await env.DB.prepare("SELECT actor FROM audit_log WHERE action = 'sessions.revoke_user'").first<string>("actor");
    expect(audit).toBe("admin:token");
  });

  it("lists a user's active sessions and revokes one", async () => {
    const conn = await createConnection();
    const id = await provision(conn, "list@example.com");
    const keep = await openSession(id, "access", { app_id: "wiki" });
    const drop = await openSession(id, "gateway");
    const list = (await (await admin("GET", `/api/v1/access/users/${id}/active_sessions`)).json()) as { result: { id: string; kind: string }[] };
    expect(list.result.map((s) => s.id).sort()).toEqual([keep, drop].sort());
    expect((await admin("DELETE", `/api/v1/access/users/${id}/active_sessions/${drop}`)).status).toBe(200);
    expect((await checkSession(id, drop)).status).toBe("revoked");
    expect((await checkSession(id, keep)).status).toBe("valid");
    expect((await admin("DELETE", `/api/v1/access/users/${id}/active_sessions/${drop}`)).status).toBe(404);
    expect((await admin("GET", "/api/v1/access/users/nobody/active_sessions")).status).toBe(404);
  });

  it("revoke_tokens ends one app's sessions for every user, leaving other apps", async () => {
    const conn = await createConnection();
    const u1 = await provision(conn, "app1@example.com");
    const u2 = await provision(conn, "app2@example.com");
    const s1 = await openSession(u1, "access", { app_id: "grafana" });
    const s2 = await openSession(u2, "access", { app_id: "grafana" });
    const other = await openSession(u2, "access", { app_id: "wiki" });
    const res = await admin("POST", "/api/v1/access/apps/grafana/revoke_tokens");
    expect(res.status).toBe(200);
    expect((await checkSession(u1, s1)).status).toBe("revoked");
    expect((await checkSession(u2, s2)).status).toBe("revoked");
    expect((await checkSession(u2, other)).status).toBe("valid");
  });

  it("seats: with seat_deprovision a deactivated user gives the seat back", async () => {
    const on = await createConnection({ scim_config: { seat_deprovision: true } });
    const off = await createConnection();
    const a = await provision(on, "seat1@example.com");
    const b = await provision(off, "seat2@example.com");
    for (const [conn, id] of [[on, a], [off, b]] as const) await deactivations[1]![1](conn, id);
    const seats = (await (await admin("GET", "/api/v1/access/seats")).json()) as { result: { identity_providers: { identity_provider_id: string; seats_in_use: number }[] } };
    const by = Object.fromEntries(seats.result.identity_providers.map((r) => [r.identity_provider_id, r.seats_in_use]));
    expect(by[on.id]).toBe(0);
    expect(by[off.id]).toBe(1);
  });

  it("deleting a connection ends its users' sessions", async () => {
    const conn = await createConnection();
    const id = await provision(conn, "conn-del@example.com");
    const sid = await openSession(id);
    expect((await admin("DELETE", `/api/v1/access/identity_providers/${conn.id}`)).status).toBe(200);
    expect((await checkSession(id, sid)).status).toBe("revoked");
  });
});
