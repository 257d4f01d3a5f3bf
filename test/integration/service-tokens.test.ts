import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { resolveDeviceToken } from "../../src/gateway/devices";
import { parseDuration } from "../../src/gateway/service-tokens";
import { sha256Hex } from "../../src/lib/crypto";
import { admin, checkSession, createConnection, ORIGIN, provisionUser, scim } from "../helpers";

interface Created {
  id: string;
  name: string;
  client_id: string;
  client_secret: string;
  created_at: string;
  expires_at: string;
}

async function createToken(body: Record<string, unknown> = { name: "ci" }): Promise<Created> {
  const res = await admin("POST", "/api/v1/access/service_tokens", body);
  expect(res.status).toBe(200);
  return ((await res.json()) as { result: Created }).result;
}

function dohToken(query: string, headers: Record<string, string>): Promise<Response> {
  return exports.default.fetch(`${ORIGIN}/cdn-cgi/access/doh-token${query}`, { headers });
}
const creds = (t: { client_id: string; client_secret: string }) => ({ "Cf-Access-Client-Id": t.client_id, "Cf-Access-Client-Secret": t.client_secret });

describe("Access service tokens API", () => {
  it("create shows the secret once (Cloudflare's shapes), stores its hash; list and get never show it", async () => {
    const token = await createToken({ name: "ci", duration: "24h" });
    expect(token.client_id).toMatch(/^[0-9a-f]{32}\.access$/);
    expect(token.client_secret).toMatch(/^[0-9a-f]{64}$/);
    expect(Date.parse(token.expires_at) - Date.parse(token.created_at)).toBe(24 * 3600_000);
    const row = await env.DB.prepare("SELECT * FROM access_service_tokens WHERE id = ?").bind(token.id).first<Record<string, string>>();
    expect(row!.client_secret_hash).toBe(await sha256Hex(token.client_secret));
    expect(JSON.stringify(row)).not.toContain(token.client_secret);
    const list = await (await admin("GET", "/api/v1/access/service_tokens")).text();
    expect(list).toContain(token.client_id);
    expect(list).not.toContain(token.client_secret);
    expect(list).not.toContain("client_secret");
    const one = (await (await admin("GET", `/api/v1/access/service_tokens/${token.id}`)).json()) as { result: Record<string, unknown> };
    expect(one.result).toMatchObject({ id: token.id, name: "ci", client_id: token.client_id });
    expect(one.result).not.toHaveProperty("client_secret");
    const audit = await env.DB.prepare("SELECT details FROM audit_log WHERE action = 'service_token.create' AND target_id = ?").bind(token.id).first<string>("details");
    expect(audit).not.toContain(token.client_secret);
  });

  it("defaults to one year (8760h)", async () => {
    const token = await createToken({ name: "default" });
    expect(Date.parse(token.expires_at) - Date.parse(token.created_at)).toBe(8760 * 3600_000);
  });

  it.each([
    [{}, /^name: /],
    [{ name: "x", duration: "forever-ish" }, /^duration: /],
    [{ name: "x", duration: "10s" }, /^duration: /],
    [{ name: "x", client_secret: "mine" }, /client_secret: unknown member/],
  ])("refuses %j", async (body, message) => {
    const res = await admin("POST", "/api/v1/access/service_tokens", body);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { errors: { message: string }[] }).errors[0]!.message).toMatch(message);
  });

  it.each([
    ["8760h", 8760 * 3600_000],
    ["2h45m", (2 * 60 + 45) * 60_000],
    ["90m", 90 * 60_000],
    ["1.5h", 90 * 60_000],
    ["", null],
    ["h", null],
    ["10 h", null],
    ["-1h", null],
  ])("parseDuration(%j) = %s", (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it("the service token routes need the admin token", async () => {
    const res = await exports.default.fetch(`${ORIGIN}/api/v1/access/service_tokens`);
    expect(res.status).toBe(401);
  });
});

describe("GET /cdn-cgi/access/doh-token", () => {
  it("issues a device for the named user (by email, case-insensitive); the token resolves and its session is live", async () => {
    const conn = await createConnection();
    const { id: userId, userName } = await provisionUser(conn, `doh-${crypto.randomUUID().slice(0, 8)}@example.com`);
    const st = await createToken();
    const res = await dohToken(`?email=${encodeURIComponent(userName.toUpperCase())}&name=build-agent`, creds(st));
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const body = (await res.json()) as { token: string; doh_url: string; device: Record<string, string> };
    expect(body.doh_url).toBe(`${ORIGIN}/dns-query/${body.token}`);
    expect(body.device).toMatchObject({ user_id: userId, name: "build-agent", enrolled_by: `service_token:${st.id}` });
    expect(body.device).not.toHaveProperty("token");
    const binding = await resolveDeviceToken(env, body.token);
    expect(binding).toMatchObject({ deviceId: body.device.id, userId });
    expect((await checkSession(userId, binding!.sessionId)).status).toBe("valid");
    const seen = await env.DB.prepare("SELECT last_seen_at FROM access_service_tokens WHERE id = ?").bind(st.id).first<string>("last_seen_at");
    expect(seen).not.toBeNull();
    // By user id too.
    const byId = await dohToken(`?user_id=${userId}`, creds(st));
    expect(byId.status).toBe(200);
  });

  it.each([
    ["no headers", () => ({}), 401],
    ["only the id", (t: Created) => ({ "Cf-Access-Client-Id": t.client_id }), 401],
    ["a wrong secret", (t: Created) => ({ ...creds(t), "Cf-Access-Client-Secret": "0".repeat(64) }), 403],
    ["an unknown id", (t: Created) => ({ ...creds(t), "Cf-Access-Client-Id": `${"0".repeat(32)}.access` }), 403],
    ["another token's secret", (t: Created, other: Created) => ({ ...creds(t), "Cf-Access-Client-Secret": other.client_secret }), 403],
  ] as const)("refuses %s (%i) without saying which part was wrong, and issues nothing", async (_label, headers, status) => {
    const conn = await createConnection();
    const { id: userId, userName } = await provisionUser(conn);
    const st = await createToken();
    const other = await createToken();
    const res = await dohToken(`?email=${userName}`, headers(st, other));
    expect(res.status).toBe(status);
    const text = await res.text();
    expect(text).not.toMatch(/secret is wrong|unknown client/i);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM gateway_devices WHERE user_id = ?").bind(userId).first<number>("n")).toBe(0);
  });

  it("a wrong secret and an unknown id get the same answer", async () => {
    const st = await createToken();
    const a = await dohToken("?email=x@example.com", { ...creds(st), "Cf-Access-Client-Secret": "f".repeat(64) });
    const b = await dohToken("?email=x@example.com", { ...creds(st), "Cf-Access-Client-Id": `${"f".repeat(32)}.access` });
    expect([a.status, b.status]).toEqual([403, 403]);
    expect(await a.text()).toBe(await b.text());
  });

  it("rotation: the old secret stops working at once, the new one works; deletion ends the token", async () => {
    const conn = await createConnection();
    const { userName } = await provisionUser(conn);
    const st = await createToken();
    const rotated = await admin("POST", `/api/v1/access/service_tokens/${st.id}/rotate`);
    expect(rotated.status).toBe(200);
    const fresh = ((await rotated.json()) as { result: Created }).result;
    expect(fresh).toMatchObject({ id: st.id, client_id: st.client_id });
    expect(fresh.client_secret).not.toBe(st.client_secret);
    expect((await dohToken(`?email=${userName}`, creds(st))).status).toBe(403);
    expect((await dohToken(`?email=${userName}`, creds(fresh))).status).toBe(200);
    expect((await admin("DELETE", `/api/v1/access/service_tokens/${st.id}`)).status).toBe(200);
    expect((await dohToken(`?email=${userName}`, creds(fresh))).status).toBe(403);
    expect((await admin("DELETE", `/api/v1/access/service_tokens/${st.id}`)).status).toBe(404);
    expect((await admin("POST", `/api/v1/access/service_tokens/${st.id}/rotate`)).status).toBe(404);
  });

  it("an expired service token is refused", async () => {
    const conn = await createConnection();
    const { userName } = await provisionUser(conn);
    const st = await createToken();
    await env.DB.prepare("UPDATE access_service_tokens SET expires_at = ? WHERE id = ?").bind(new Date(Date.now() - 1000).toISOString(), st.id).run();
    expect((await dohToken(`?email=${userName}`, creds(st))).status).toBe(403);
  });

  it("the named user: unknown 404, ambiguous across connections 409 (user_id then works), neither or both 400, inactive 409", async () => {
    const st = await createToken();
    expect((await dohToken(`?email=nobody-${crypto.randomUUID()}@example.com`, creds(st))).status).toBe(404);
    expect((await dohToken(`?user_id=${crypto.randomUUID()}`, creds(st))).status).toBe(404);
    expect((await dohToken("", creds(st))).status).toBe(400);
    expect((await dohToken("?email=a@example.com&user_id=x", creds(st))).status).toBe(400);

    const email = `twice-${crypto.randomUUID().slice(0, 8)}@example.com`;
    const a = await provisionUser(await createConnection(), email);
    await provisionUser(await createConnection(), email);
    const ambiguous = await dohToken(`?email=${email}`, creds(st));
    expect(ambiguous.status).toBe(409);
    expect(((await ambiguous.json()) as { errors: { message: string }[] }).errors[0]!.message).toMatch(/user_id/);
    expect((await dohToken(`?user_id=${a.id}`, creds(st))).status).toBe(200);

    const conn = await createConnection({ scim_config: { user_deprovision: false } });
    const inactive = await provisionUser(conn);
    await scim(conn, "PATCH", `/Users/${inactive.id}`, { schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "replace", value: { active: false } }] });
    expect((await dohToken(`?email=${inactive.userName}`, creds(st))).status).toBe(409);
  });
});
