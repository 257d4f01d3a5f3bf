import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { presentedHash } from "../../src/auth/scim-secret";
import { authRidesWithFirstRead } from "../../src/directory/scim-auth";
import { isReadOnlySql, ScimAuthGate } from "../../src/directory/scim-gate";
import { createConnection, recordingD1 } from "../helpers";

async function gateFor(secret: string | undefined, idpId: string, db: D1Database = env.DB) {
  return new ScimAuthGate(db, idpId, await presentedHash(secret));
}

describe("ScimAuthGate: authentication rides with the first read", () => {
  it.each([
    ["SELECT * FROM users WHERE id = ?", true],
    ["  with page AS (SELECT id FROM users) SELECT * FROM page", true],
    ["SELECT * FROM users WHERE updated_at > ? AND deleted_flag = 0", true],
    ["INSERT INTO users (id) VALUES (?)", false],
    ["UPDATE users SET active = 0", false],
    ["DELETE FROM users WHERE id = ?", false],
    ["WITH x AS (SELECT 1) DELETE FROM users", false],
    ["SELECT 1; DELETE FROM users", false],
    ["REPLACE INTO users (id) VALUES (?)", false],
    ["PRAGMA optimize", false],
    ["SELECT replace(user_name, 'a', 'b') FROM users", false], // conservative: costs a round trip, never safety
  ])("isReadOnlySql(%j) = %s", (sql, expected) => {
    expect(isReadOnlySql(sql)).toBe(expected);
  });

  const base = "https://edge.test/populations/p1/scim/v2";
  it.each([
    ["GET", "/Users/abc", true],
    ["HEAD", "/Groups/abc/?excludedAttributes=members", true],
    ["GET", "/Groups/abc", false], // its members (50,000 and more) are read only for the secret's holder
    ["GET", "/Groups/abc?attributes=members", false],
    ["GET", `/Users?filter=${encodeURIComponent('userName eq "a@b.c"')}`, true],
    ["GET", `/Users?filter=${encodeURIComponent('externalId eq "x"')}&excludedAttributes=groups`, true],
    ["GET", `/Groups?filter=${encodeURIComponent('displayName eq "Sales"')}&excludedAttributes=members`, true],
    // A first page in the index order is one bounded index range (more cases in scim-list-auth.test.ts).
    ["GET", "/Users", true],
    ["GET", "/Users?startIndex=1&count=100", true],
    // Anything that can make D1 scan is authenticated first.
    ["GET", "/Users?startIndex=2&count=100", false],
    ["GET", "/Users?sortBy=userName", false],
    ["GET", `/Users?filter=${encodeURIComponent('emails.value co "@x"')}`, false],
    ["GET", `/Users?filter=${encodeURIComponent('userName ew "x"')}`, false],
    ["GET", `/Users?filter=${encodeURIComponent('userName eq "a" or userName eq "b"')}`, false],
    ["GET", `/Users?filter=${encodeURIComponent('title eq "x"')}`, false],
    ["GET", "/Users?filter=userName%20eq", false],
    ["GET", "/ServiceProviderConfig", false],
    ["GET", "/Users/.search", false],
    ["POST", "/Users/.search", false],
    ["POST", "/Users", false],
    ["PATCH", "/Users/abc", false],
    ["DELETE", "/Groups/abc", false],
  ])("authRidesWithFirstRead(%s %s) = %s", (method, path, expected) => {
    expect(authRidesWithFirstRead(method, new URL(`${base}${path}`))).toBe(expected);
  });

  it("a first read with the right secret: one batch carrying the check, no separate round trip", async () => {
    const conn = await createConnection();
    const { db, calls } = recordingD1();
    const gate = await gateFor(conn.secret, conn.id, db);
    const row = await gate.db.prepare("SELECT id FROM identity_providers WHERE id = ?").bind(conn.id).first<{ id: string }>();
    expect(row?.id).toBe(conn.id);
    expect(calls).toEqual(["batch:2"]);
    expect(gate.authorized).toBe(true);
    // Once verified, statements go straight to D1.
    await gate.db.prepare("SELECT 1 AS one").first();
    expect(calls).toEqual(["batch:2", "first:SELECT 1 AS one"]);
  });

  it("a read with a wrong secret returns nothing (401), and later reads stay refused", async () => {
    const conn = await createConnection();
    const gate = await gateFor("wrong", conn.id);
    await expect(gate.db.prepare("SELECT * FROM identity_providers WHERE id = ?").bind(conn.id).first()).rejects.toMatchObject({ status: 401 });
    await expect(gate.db.batch([gate.db.prepare("SELECT 1")])).rejects.toMatchObject({ status: 401 });
    await expect(gate.db.prepare("SELECT 1").all()).rejects.toMatchObject({ status: 401 });
  });

  it("a write is authenticated in its own round trip first, and never runs with a wrong secret", async () => {
    const conn = await createConnection();
    const marker = `gate-${crypto.randomUUID()}`;
    const insert = (gate: ScimAuthGate) =>
      gate.db
        .prepare("INSERT INTO provisioning_log (id, logged_at, idp_id, request_method, resource_type, status, http_status) VALUES (?, ?, ?, 'GET', 'USER', 'SUCCESS', 200)")
        .bind(crypto.randomUUID(), new Date().toISOString(), marker);
    await expect(insert(await gateFor("wrong", conn.id)).run()).rejects.toMatchObject({ status: 401 });
    await expect((await gateFor("wrong", conn.id)).db.batch([insert(await gateFor("wrong", conn.id))])).rejects.toMatchObject({ status: 401 });
    await expect((await gateFor(undefined, conn.id)).db.exec("DELETE FROM provisioning_log")).rejects.toMatchObject({ status: 401 });
    const count = () => env.DB.prepare("SELECT count(*) AS n FROM provisioning_log WHERE idp_id = ?").bind(marker).first<number>("n");
    expect(await count()).toBe(0);

    const { db, calls } = recordingD1();
    const good = await gateFor(conn.secret, conn.id, db);
    await insert(good).run();
    expect(calls).toEqual(["first:identity_providers", "run:provisioning_log"]);
    expect(await count()).toBe(1);
  });

  it("a mixed batch (read + write) is never sent before the check", async () => {
    const conn = await createConnection();
    const { db, calls } = recordingD1();
    const gate = await gateFor("wrong", conn.id, db);
    await expect(gate.db.batch([gate.db.prepare("SELECT 1"), gate.db.prepare("DELETE FROM provisioning_log WHERE id = 'none'")])).rejects.toMatchObject({ status: 401 });
    expect(calls).toEqual(["first:identity_providers"]);
  });

  it("bindings (Durable Objects, Queue, D1) and connection settings are locked until the check passed", async () => {
    const conn = await createConnection({ scim_config: { user_deprovision: false } });
    const bad = await gateFor("wrong", conn.id);
    const badEnv = bad.env(env);
    expect(() => badEnv.USER_SESSIONS).toThrow(/before SCIM authentication/);
    expect(() => badEnv.IDENTITY_CHANGES).toThrow(/before SCIM authentication/);
    expect(() => badEnv.DB).toThrow(/before SCIM authentication/);
    expect(badEnv.SCIM_MAX_RESULTS).toBe(env.SCIM_MAX_RESULTS); // plain vars stay readable
    expect(bad.idp.id).toBe(conn.id);
    expect(() => bad.idp.userDeprovision).toThrow();
    await expect(bad.ensure()).rejects.toMatchObject({ status: 401 });
    expect(() => badEnv.USER_SESSIONS).toThrow();

    const good = await gateFor(conn.secret, conn.id);
    await good.ensure();
    expect(good.env(env).USER_SESSIONS).toBe(env.USER_SESSIONS);
    expect(good.idp.userDeprovision).toBe(false);
  });

  it("SCIM disabled: the right secret is still refused, with the connection known for the log", async () => {
    const conn = await createConnection();
    await env.DB.prepare("UPDATE identity_providers SET scim_enabled = 0 WHERE id = ?").bind(conn.id).run();
    const gate = await gateFor(conn.secret, conn.id);
    await expect(gate.db.prepare("SELECT 1").first()).rejects.toMatchObject({ status: 401 });
    expect(await gate.settle()).toMatchObject({ valid: true, idp: { id: conn.id, scimEnabled: false } });
  });
});
