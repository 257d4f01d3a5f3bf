import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/lib/crypto";
import { badCredentials, checkSession, createConnection, dumpDirectory, openSession, provisionUser, scim, type TestConnection } from "../helpers";

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR = "urn:ietf:params:scim:api:messages:2.0:Error";

const deactivate = { schemas: [PATCH_OP], Operations: [{ op: "replace", path: "active", value: false }] };

// Each change is made straight in D1, as an admin request served by ANOTHER isolate would leave it:
// this isolate has just authenticated the connection, so a per-isolate cache would still hold the old row.
describe("connection changes made elsewhere apply to the next SCIM request", () => {
  it("a rotated secret: the old one gets 401 at once, the new one works", async () => {
    const conn = await createConnection();
    const user = await provisionUser(conn);
    expect((await scim(conn, "GET", `/Users/${user.id}`)).status).toBe(200);
    await env.DB.prepare("UPDATE identity_providers SET scim_secret_hash = ? WHERE id = ?").bind(await sha256Hex("rotated-secret"), conn.id).run();
    expect((await scim(conn, "GET", `/Users/${user.id}`)).status).toBe(401);
    expect((await scim(conn, "GET", "/Users")).status).toBe(401);
    expect((await scim({ ...conn, secret: "rotated-secret" }, "GET", `/Users/${user.id}`)).status).toBe(200);
  });

  it("SCIM disabled: 401 at once, and enabled again: 200 at once", async () => {
    const conn = await createConnection();
    const user = await provisionUser(conn);
    expect((await scim(conn, "GET", `/Users/${user.id}`)).status).toBe(200);
    await env.DB.prepare("UPDATE identity_providers SET scim_enabled = 0 WHERE id = ?").bind(conn.id).run();
    const res = await scim(conn, "GET", `/Users/${user.id}`);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { detail: string }).detail).toMatch(/disabled/);
    await env.DB.prepare("UPDATE identity_providers SET scim_enabled = 1 WHERE id = ?").bind(conn.id).run();
    expect((await scim(conn, "GET", `/Users/${user.id}`)).status).toBe(200);
  });

  it("a deleted connection: its secret gets 401 at once", async () => {
    const conn = await createConnection();
    const user = await provisionUser(conn);
    expect((await scim(conn, "GET", `/Users/${user.id}`)).status).toBe(200);
    await env.DB.prepare("DELETE FROM identity_providers WHERE id = ?").bind(conn.id).run();
    expect((await scim(conn, "GET", `/Users/${user.id}`)).status).toBe(401);
    expect((await scim(conn, "GET", "/ServiceProviderConfig")).status).toBe(401);
  });

  it("user_deprovision switched off: the very next deactivation keeps the sessions", async () => {
    const conn = await createConnection({ scim_config: { user_deprovision: true } });
    const user = await provisionUser(conn);
    const session = await openSession(user.id);
    expect((await scim(conn, "GET", `/Users/${user.id}`)).status).toBe(200);
    await env.DB.prepare("UPDATE identity_providers SET user_deprovision = 0 WHERE id = ?").bind(conn.id).run();
    expect((await scim(conn, "PATCH", `/Users/${user.id}`, deactivate)).status).toBe(200);
    expect((await checkSession(user.id, session)).status).toBe("valid");
    const actions = await env.DB.prepare("SELECT action FROM audit_log WHERE target_id = ? ORDER BY logged_at").bind(user.id).all<{ action: string }>();
    expect(actions.results.map((r) => r.action)).toContain("user.deactivate");
    expect(actions.results.map((r) => r.action)).not.toContain("sessions.revoke_all");
  });

  it("user_deprovision switched on: the very next deactivation revokes the sessions", async () => {
    const conn = await createConnection({ scim_config: { user_deprovision: false } });
    const user = await provisionUser(conn);
    const session = await openSession(user.id);
    expect((await scim(conn, "GET", `/Users/${user.id}`)).status).toBe(200);
    await env.DB.prepare("UPDATE identity_providers SET user_deprovision = 1 WHERE id = ?").bind(conn.id).run();
    expect((await scim(conn, "PATCH", `/Users/${user.id}`, deactivate)).status).toBe(200);
    expect((await checkSession(user.id, session)).status).toBe("revoked");
  });
});

/** Requests that, authenticated, would answer 200/201/204/400/404/409 or change state. */
const REQUESTS: [string, string, (u: { id: string; userName: string }) => string, ((u: { id: string; userName: string }) => unknown) | undefined][] = [
  ["GET an existing user", "GET", (u) => `/Users/${u.id}`, undefined],
  ["GET an unknown user (404)", "GET", () => "/Users/no-such-user", undefined],
  ["GET a list with a bad filter (400)", "GET", () => "/Users?filter=userName%20eq", undefined],
  ["GET a list that matches", "GET", (u) => `/Users?filter=${encodeURIComponent(`userName eq "${u.userName}"`)}`, undefined],
  ["GET a list with a bad count (400)", "GET", () => "/Users?count=abc&startIndex=-4", undefined],
  ["GET discovery", "GET", () => "/ServiceProviderConfig", undefined],
  ["GET unknown schema (404)", "GET", () => "/Schemas/nope", undefined],
  ["GET an unknown path (404)", "GET", () => "/Nope", undefined],
  ["POST an invalid user (400)", "POST", () => "/Users", () => ({ schemas: [USER] })],
  ["POST malformed JSON (400)", "POST", () => "/Users", () => "{not json"],
  ["POST a duplicate userName (409)", "POST", () => "/Users", (u) => ({ schemas: [USER], userName: u.userName })],
  ["POST a new user (201)", "POST", () => "/Users", () => ({ schemas: [USER], userName: "intruder@example.com" })],
  ["POST a search", "POST", () => "/Users/.search", () => ({ schemas: ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], filter: 'userName sw "u"' })],
  ["PATCH active=false (would revoke)", "PATCH", (u) => `/Users/${u.id}`, () => deactivate],
  ["PATCH an invalid op (400)", "PATCH", (u) => `/Users/${u.id}`, () => ({ schemas: [PATCH_OP], Operations: [{ op: "nope" }] })],
  ["DELETE the user (would revoke)", "DELETE", (u) => `/Users/${u.id}`, undefined],
  ["DELETE an unknown group (404)", "DELETE", () => "/Groups/no-such-group", undefined],
];

describe("an unauthenticated SCIM request always gets 401, reads nothing and changes nothing", () => {
  it.each(REQUESTS)("%s", async (_name, method, path, body) => {
    const a = await createConnection();
    const b = await createConnection();
    const user = await provisionUser(a);
    const session = await openSession(user.id);
    const before = await dumpDirectory();
    for (const [label, conn, headers] of badCredentials(a, b)) {
      const res = await scim(conn, method, path(user), body?.(user), headers);
      const text = await res.text();
      expect(res.status, label).toBe(401);
      expect(res.headers.get("www-authenticate"), label).toMatch(/^Bearer/);
      expect(res.headers.get("etag"), label).toBeNull();
      expect(JSON.parse(text), label).toMatchObject({ schemas: [ERROR], status: "401" });
      expect(text, label).not.toContain(user.userName);
      expect(text, label).not.toContain(user.id);
    }
    expect(await dumpDirectory()).toEqual(before);
    expect((await checkSession(user.id, session)).status).toBe("valid");
  });
});

describe("tenant isolation", () => {
  it("a connection's own secret never reaches another connection's users", async () => {
    const a = await createConnection();
    const b = await createConnection();
    const user = await provisionUser(a);
    const before = await dumpDirectory();
    expect((await scim(b, "GET", `/Users/${user.id}`)).status).toBe(404);
    expect((await scim(b, "PATCH", `/Users/${user.id}`, deactivate)).status).toBe(404);
    expect((await scim(b, "DELETE", `/Users/${user.id}`)).status).toBe(404);
    const list = (await (await scim(b, "GET", `/Users?filter=${encodeURIComponent(`userName eq "${user.userName}"`)}`)).json()) as { totalResults: number };
    expect(list.totalResults).toBe(0);
    expect(await dumpDirectory()).toEqual(before);
  });
});
