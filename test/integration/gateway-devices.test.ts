import { env, exports } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { clearDeviceTokenCache, DEVICE_TTL_SECONDS, issueDevice, resolveDeviceToken } from "../../src/gateway/devices";
import { sha256Hex } from "../../src/lib/crypto";
import { sessionsFor } from "../../src/sessions/client";
import { admin, checkSession, createConnection, ORIGIN, provisionUser, scim, type TestConnection } from "../helpers";

const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

interface Issued {
  id: string;
  name: string;
  user_id: string;
  token: string;
  doh_url: string;
  created_at: string;
  expires_at: string;
}

async function enroll(userId: string, name = "laptop"): Promise<Issued> {
  const res = await admin("POST", "/api/v1/gateway/devices", { user_id: userId, name });
  expect(res.status).toBe(200);
  return ((await res.json()) as { result: Issued }).result;
}

async function world(): Promise<{ conn: TestConnection; userId: string; email: string }> {
  const conn = await createConnection();
  const email = `dev-${crypto.randomUUID().slice(0, 8)}@example.com`;
  const { id } = await provisionUser(conn, email);
  return { conn, userId: id, email };
}

const sessionOf = async (deviceId: string) => env.DB.prepare("SELECT session_id FROM gateway_devices WHERE id = ?").bind(deviceId).first<string>("session_id");

beforeEach(() => clearDeviceTokenCache());

describe("POST /api/v1/gateway/devices", () => {
  it("returns the token once, with its doh_url; only its SHA-256 is stored; the device's gateway session is live", async () => {
    const { userId } = await world();
    const device = await enroll(userId, "Alice's laptop");
    expect(device).toMatchObject({ name: "Alice's laptop", user_id: userId });
    expect(device.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(device.doh_url).toBe(`${ORIGIN}/dns-query/${device.token}`);
    expect(Date.parse(device.expires_at) - Date.parse(device.created_at)).toBeGreaterThan((DEVICE_TTL_SECONDS - 60) * 1000);

    const row = await env.DB.prepare("SELECT * FROM gateway_devices WHERE id = ?").bind(device.id).first<Record<string, string>>();
    expect(row!.token_hash).toBe(await sha256Hex(device.token));
    expect(row!.enrolled_by).toBe("admin");
    expect(JSON.stringify(row)).not.toContain(device.token);
    // Nor in the audit log.
    const audit = await env.DB.prepare("SELECT actor, details FROM audit_log WHERE action = 'gateway_device.create' AND target_id = ?").bind(device.id).first<{ actor: string; details: string }>();
    expect(audit?.actor).toBe("admin:token");
    expect(audit!.details).not.toContain(device.token);

    const check = await checkSession(userId, row!.session_id!);
    expect(check).toMatchObject({ status: "valid", kind: "gateway", deviceId: device.id });
    expect(await resolveDeviceToken(env, device.token)).toEqual({ deviceId: device.id, userId, sessionId: row!.session_id });
  });

  it("GET lists devices (filtered by user, paginated) and never shows a token", async () => {
    const a = await world();
    const b = await world();
    const d1 = await enroll(a.userId, "one");
    const d2 = await enroll(a.userId, "two");
    const d3 = await enroll(b.userId, "three");
    const res = await admin("GET", `/api/v1/gateway/devices?user_id=${a.userId}&per_page=1`);
    expect(res.status).toBe(200);
    const text = await res.text();
    for (const d of [d1, d2, d3]) expect(text).not.toContain(d.token);
    const body = JSON.parse(text) as { result: Record<string, unknown>[]; result_info: Record<string, number> };
    expect(body.result).toHaveLength(1);
    expect(body.result[0]).toMatchObject({ user_id: a.userId, enrolled_by: "admin", revoked_at: null });
    const page2 = (await (await admin("GET", `/api/v1/gateway/devices?user_id=${a.userId}&per_page=1&page=2`)).json()) as { result: { id: string }[] };
    expect([body.result[0]!.id, page2.result[0]!.id].sort()).toEqual([d1.id, d2.id].sort());
    expect(body.result[0]).not.toHaveProperty("token");
    expect(body.result[0]).not.toHaveProperty("token_hash");
    expect(body.result_info).toMatchObject({ page: 1, per_page: 1, count: 1, total_count: 2, total_pages: 2 });
    const all = (await (await admin("GET", "/api/v1/gateway/devices?per_page=1000")).json()) as { result: { id: string }[] };
    expect(all.result.map((d) => d.id)).toEqual(expect.arrayContaining([d1.id, d2.id, d3.id]));
    const one = await admin("GET", `/api/v1/gateway/devices/${d3.id}`);
    expect(await one.json()).toMatchObject({ result: { id: d3.id, user_id: b.userId } });
    expect((await admin("GET", `/api/v1/gateway/devices/${crypto.randomUUID()}`)).status).toBe(404);
    expect((await admin("GET", "/api/v1/gateway/devices?per_page=0")).status).toBe(400);
  });

  it.each([
    ["an unknown user", () => ({ user_id: crypto.randomUUID(), name: "x" }), 404],
    ["no name", (u: string) => ({ user_id: u }), 400],
    ["an empty name", (u: string) => ({ user_id: u, name: "  " }), 400],
    ["an unknown member", (u: string) => ({ user_id: u, name: "x", token: "mine" }), 400],
  ] as const)("refuses %s (%i) and leaves no device or live session", async (_label, body, status) => {
    const { userId } = await world();
    const res = await admin("POST", "/api/v1/gateway/devices", body(userId));
    expect(res.status).toBe(status);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM gateway_devices WHERE user_id = ?").bind(userId).first<number>("n")).toBe(0);
    expect(await sessionsFor(env, userId).listSessions()).toEqual([]);
  });

  it("refuses an inactive user with 409 and a clear message", async () => {
    const conn = await createConnection({ scim_config: { user_deprovision: false } });
    const { id } = await provisionUser(conn);
    await scim(conn, "PATCH", `/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: "replace", value: { active: false } }] });
    const res = await admin("POST", "/api/v1/gateway/devices", { user_id: id, name: "x" });
    expect(res.status).toBe(409);
    expect(((await res.json()) as { errors: { message: string }[] }).errors[0]!.message).toMatch(/inactive/);
  });

  it("a failed D1 write revokes the session it opened (no orphan live session)", async () => {
    const { userId } = await world();
    let batches = 0;
    const failingDb = new Proxy(env.DB, {
      get(target, prop) {
        if (prop === "batch") {
          return (statements: D1PreparedStatement[]) => (++batches === 2 ? Promise.reject(new Error("D1 unavailable")) : target.batch(statements));
        }
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
    await expect(issueDevice({ ...env, DB: failingDb }, { userId, name: "x", enrolledBy: "admin" }, ORIGIN)).rejects.toThrow(/D1 unavailable/);
    expect(batches).toBe(2);
    expect(await sessionsFor(env, userId).listSessions()).toEqual([]);
  });
});

describe("revocation kills a device's token at once", () => {
  it("DELETE ends the session in the user's object before answering; the token no longer resolves", async () => {
    const { userId } = await world();
    const device = await enroll(userId);
    const sessionId = (await sessionOf(device.id))!;
    expect(await resolveDeviceToken(env, device.token)).not.toBeNull(); // cached in this isolate now
    const res = await admin("DELETE", `/api/v1/gateway/devices/${device.id}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ result: { id: device.id, revoked_at: expect.any(String) } });
    expect(await checkSession(userId, sessionId)).toMatchObject({ status: "revoked", reason: "device_removed" });
    expect(await resolveDeviceToken(env, device.token)).toBeNull();
    clearDeviceTokenCache();
    expect(await resolveDeviceToken(env, device.token)).toBeNull();
    // Idempotent; an unknown device is a 404.
    expect((await admin("DELETE", `/api/v1/gateway/devices/${device.id}`)).status).toBe(200);
    expect((await admin("DELETE", `/api/v1/gateway/devices/${crypto.randomUUID()}`)).status).toBe(404);
    const audit = await env.DB.prepare("SELECT count(*) AS n FROM audit_log WHERE action = 'gateway_device.revoke' AND target_id = ?").bind(device.id).first<number>("n");
    expect(audit).toBe(1);
  });

  it("when the user's object cannot be reached, DELETE fails and the device stays unrevoked in D1", async () => {
    const { userId } = await world();
    const device = await enroll(userId);
    const broken = { ...env, USER_SESSIONS: { getByName: () => ({ revokeSession: () => Promise.reject(new Error("object overloaded")) }) } } as unknown as Env;
    const { revokeDevice } = await import("../../src/gateway/devices");
    await expect(revokeDevice(broken, device.id, "admin:token")).rejects.toThrow(/overloaded/);
    expect(await env.DB.prepare("SELECT revoked_at FROM gateway_devices WHERE id = ?").bind(device.id).first<string | null>("revoked_at")).toBeNull();
  });

  it.each([
    ["SCIM deactivation", (conn: TestConnection, id: string) => scim(conn, "PATCH", `/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: "replace", value: { active: false } }] })],
    ["SCIM deletion", (conn: TestConnection, id: string) => scim(conn, "DELETE", `/Users/${id}`)],
    ["revoke_user", (_conn: TestConnection, _id: string, email: string) => admin("POST", "/api/v1/access/organizations/revoke_user", { email })],
  ] as const)("%s kills the device's session before its response", async (_label, act) => {
    const { conn, userId, email } = await world();
    const device = await enroll(userId);
    const sessionId = (await sessionOf(device.id))!;
    expect((await checkSession(userId, sessionId)).status).toBe("valid");
    const res = await act(conn, userId, email);
    expect(res.status).toBeLessThan(300);
    expect((await checkSession(userId, sessionId)).status).not.toBe("valid");
  });

  it("no new device for a deprovisioned user", async () => {
    const { conn, userId } = await world();
    await scim(conn, "PATCH", `/Users/${userId}`, { schemas: [PATCH_OP], Operations: [{ op: "replace", value: { active: false } }] });
    expect((await admin("POST", "/api/v1/gateway/devices", { user_id: userId, name: "x" })).status).toBe(409);
  });
});

describe("resolveDeviceToken", () => {
  it.each([
    ["an empty token", ""],
    ["a malformed token", "not a token"],
    ["a token with a slash", "a/b"],
    ["an oversized token", "A".repeat(4096)],
    ["a well-formed unknown token", "A".repeat(43)],
  ])("%s → null", async (_label, token) => {
    expect(await resolveDeviceToken(env, token)).toBeNull();
  });

  it("a forged token (one character changed) → null", async () => {
    const { userId } = await world();
    const device = await enroll(userId);
    const forged = (device.token[0] === "A" ? "B" : "A") + device.token.slice(1);
    expect(await resolveDeviceToken(env, forged)).toBeNull();
    expect(await resolveDeviceToken(env, device.token)).not.toBeNull();
  });

  it("an expired device → null", async () => {
    const { userId } = await world();
    const device = await enroll(userId);
    expect(await resolveDeviceToken(env, device.token)).not.toBeNull();
    await env.DB.prepare("UPDATE gateway_devices SET expires_at = ? WHERE id = ?").bind(new Date(Date.now() - 1000).toISOString(), device.id).run();
    clearDeviceTokenCache();
    expect(await resolveDeviceToken(env, device.token)).toBeNull();
  });

  it("a device revoked in D1 by another isolate → null once this isolate's cache misses", async () => {
    const { userId } = await world();
    const device = await enroll(userId);
    await env.DB.prepare("UPDATE gateway_devices SET revoked_at = ? WHERE id = ?").bind(new Date().toISOString(), device.id).run();
    expect(await resolveDeviceToken(env, device.token)).toBeNull();
  });
});

describe("the gateway admin routes need the admin token", () => {
  it.each([
    ["GET", "/api/v1/gateway/devices"],
    ["POST", "/api/v1/gateway/devices"],
    ["DELETE", "/api/v1/gateway/devices/x"],
    ["GET", "/api/v1/gateway/rules"],
    ["POST", "/api/v1/gateway/rules"],
    ["GET", "/api/v1/gateway/logs/dns"],
  ])("%s %s without it → 401", async (method, path) => {
    const res = await exports.default.fetch(`${ORIGIN}${path}`, { method, headers: { authorization: "Bearer wrong" } });
    expect(res.status).toBe(401);
  });
});
