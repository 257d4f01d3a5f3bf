import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { admin, ORIGIN } from "../helpers";
import { sha256Hex } from "../../src/lib/crypto";

type Created = { id: string; token: string; scope: string; status: string; name: string };

async function create(body: Record<string, unknown>, auth?: string): Promise<Response> {
  if (!auth) return admin("POST", "/api/v1/tokens", body);
  return call("POST", "/api/v1/tokens", auth, body);
}

async function newToken(scope: "read" | "write", extra: Record<string, unknown> = {}): Promise<Created> {
  const res = await create({ name: `t-${crypto.randomUUID().slice(0, 6)}`, scope, ...extra });
  expect(res.status).toBe(200);
  return ((await res.json()) as { result: Created }).result;
}

function call(method: string, path: string, token: string | null, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  return exports.default.fetch(`${ORIGIN}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

const row = (id: string) => env.DB.prepare("SELECT * FROM api_tokens WHERE id = ?").bind(id).first<Record<string, string | null>>();

describe("API tokens (/api/v1/tokens)", () => {
  it("creates a token shown once, stores only its SHA-256, and lists it without secret or hash", async () => {
    const t = await newToken("write");
    expect(t.token).toMatch(/^zt_[A-Za-z0-9_-]{43}$/);
    expect(t.status).toBe("active");
    const stored = await row(t.id);
    expect(stored!.token_hash).toBe(await sha256Hex(t.token));
    expect(JSON.stringify(stored)).not.toContain(t.token);
    const list = await admin("GET", "/api/v1/tokens");
    const text = await list.text();
    expect(text).toContain(t.id);
    expect(text).not.toContain(t.token);
    expect(text).not.toContain(stored!.token_hash!);
    const audit = await env.DB.prepare("SELECT actor, action FROM audit_log WHERE target_id = ?").bind(t.id).all();
    expect(audit.results).toEqual([{ actor: "admin:token", action: "api_token.create" }]);
  });

  it("validates the body: name, scope, a future expiry, no unknown members", async () => {
    for (const body of [{ scope: "read" }, { name: "x", scope: "admin" }, { name: "x", scope: "read", expires_at: "2001-01-01T00:00:00Z" }, { name: "x", scope: "read", extra: 1 }]) {
      const res = await create(body);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { errors: { code: number }[] }).errors[0]!.code).toBe(10001);
    }
  });

  it("a read token reads; on a write it gets 403 with a clear error; a write token writes as token:<id>", async () => {
    const read = await newToken("read");
    expect((await call("GET", "/api/v1/tokens", read.token)).status).toBe(200);
    expect((await call("HEAD", "/api/v1/access/identity_providers", read.token)).status).toBe(200);
    const refused = await create({ name: "x", scope: "write" }, read.token);
    expect(refused.status).toBe(403);
    const err = (await refused.json()) as { success: boolean; errors: { code: number; message: string }[] };
    expect(err.success).toBe(false);
    expect(err.errors[0]!.message).toMatch(/read-only/);
    expect((await call("DELETE", `/api/v1/tokens/${read.id}`, read.token)).status).toBe(403);

    const write = await newToken("write");
    const made = await create({ name: "by-script", scope: "read" }, write.token);
    expect(made.status).toBe(200);
    const { result } = (await made.json()) as { result: Created & { created_by: string } };
    expect(result.created_by).toBe(`token:${write.id}`);
  });

  it("revoked and expired tokens are refused with the same 401 as an unknown one", async () => {
    const unknown = await call("GET", "/api/v1/tokens", "zt_" + "A".repeat(43));
    expect(unknown.status).toBe(401);
    const unknownBody = await unknown.text();

    const t = await newToken("write");
    const revoked = await admin("DELETE", `/api/v1/tokens/${t.id}`);
    expect(revoked.status).toBe(200);
    expect(((await revoked.json()) as { result: Created }).result.status).toBe("revoked");
    const afterRevoke = await call("GET", "/api/v1/tokens", t.token);
    expect(afterRevoke.status).toBe(401);
    expect(await afterRevoke.text()).toBe(unknownBody);
    expect((await env.DB.prepare("SELECT action FROM audit_log WHERE target_id = ? AND action = 'api_token.revoke'").bind(t.id).all()).results).toHaveLength(1);

    const e = await newToken("read", { expires_at: new Date(Date.now() + 3_600_000).toISOString() });
    expect((await call("GET", "/api/v1/tokens", e.token)).status).toBe(200);
    await env.DB.prepare("UPDATE api_tokens SET expires_at = ? WHERE id = ?").bind(new Date(Date.now() - 1000).toISOString(), e.id).run();
    const afterExpiry = await call("GET", "/api/v1/tokens", e.token);
    expect(afterExpiry.status).toBe(401);
    expect(await afterExpiry.text()).toBe(unknownBody);
    const list = (await (await admin("GET", "/api/v1/tokens")).json()) as { result: Created[] };
    expect(list.result.find((x) => x.id === e.id)!.status).toBe("expired");
  });

  it("revoking an unknown id is 404", async () => {
    expect((await admin("DELETE", `/api/v1/tokens/${crypto.randomUUID()}`)).status).toBe(404);
  });

  it("last_used_at is written at most once a minute", async () => {
    const t = await newToken("read");
    expect((await row(t.id))!.last_used_at).toBeNull();
    await call("GET", "/api/v1/tokens", t.token);
    const first = (await row(t.id))!.last_used_at;
    expect(first).not.toBeNull();
    for (let i = 0; i < 3; i++) await call("GET", "/api/v1/tokens", t.token);
    expect((await row(t.id))!.last_used_at).toBe(first);
    // A minute later, the next use moves it.
    const old = new Date(Date.now() - 61_000).toISOString();
    await env.DB.prepare("UPDATE api_tokens SET last_used_at = ? WHERE id = ?").bind(old, t.id).run();
    await call("GET", "/api/v1/tokens", t.token);
    const moved = (await row(t.id))!.last_used_at!;
    expect(Date.parse(moved)).toBeGreaterThan(Date.parse(old) + 60_000);
  });
});
