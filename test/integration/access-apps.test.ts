import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { findAppForRequest, getAppById, listAppHosts } from "../../src/access/apps/lookup";
import { activeSessions, openSession } from "../../src/sessions/service";
import { admin, createConnection, ORIGIN, provisionUser, recordingD1, scim, type TestConnection } from "../helpers";

type Json = Record<string, any>;

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const res = await admin(method, `/api/v1${path}`, body);
  return { status: res.status, body: (await res.json()) as Json };
}

const uniq = () => crypto.randomUUID().slice(0, 8);

async function createApp(extra: Json = {}): Promise<Json> {
  const { status, body } = await call("POST", "/access/apps", { name: "App", domain: `app-${uniq()}.example.com`, origin: "https://origin.internal", ...extra });
  if (status !== 200) throw new Error(`createApp: ${status} ${JSON.stringify(body)}`);
  return body.result;
}

/** Every row of the Access tables plus the audit log size: a refused write leaves all of it unchanged. */
async function snapshot() {
  const out: Json = {};
  for (const t of ["access_apps", "access_policies", "access_groups"]) out[t] = (await env.DB.prepare(`SELECT * FROM ${t} ORDER BY rowid`).all()).results;
  out.audit = await env.DB.prepare("SELECT count(*) AS n FROM audit_log").first("n");
  return out;
}

async function expectRefused(method: string, path: string, body: unknown, status: number, message: string | RegExp) {
  const before = await snapshot();
  const res = await call(method, path, body);
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body.success).toBe(false);
  expect(res.body.errors[0].message).toMatch(message);
  expect(await snapshot()).toEqual(before);
}

async function scimGroup(conn: TestConnection, displayName: string, externalId?: string): Promise<string> {
  const res = await scim(conn, "POST", "/Groups", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"], displayName, ...(externalId ? { externalId } : {}) });
  if (res.status !== 201) throw new Error(`scimGroup: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

describe("Access applications API", () => {
  it.each([
    ["GET", "/access/apps"],
    ["POST", "/access/apps"],
    ["GET", "/access/apps/x/policies"],
    ["POST", "/access/apps/x/simulate"],
    ["DELETE", "/access/groups/x"],
  ])("%s %s without the admin token is a 401", async (method, path) => {
    const res = await exports.default.fetch(`${ORIGIN}/api/v1${path}`, { method, headers: { authorization: "Bearer wrong" } });
    expect(res.status).toBe(401);
  });

  it("creates, reads, lists, updates and deletes an app in Cloudflare's shape; aud never changes", async () => {
    const idp = await createConnection();
    const created = await call("POST", "/access/apps", {
      name: "Wiki",
      domain: "Wiki.Example.COM/Docs/",
      type: "self_hosted",
      allowed_idps: [idp.id],
      session_duration: "1h30m",
      origin: "https://wiki.internal:8443/",
    });
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({ success: true, errors: [], messages: [] });
    const app = created.body.result;
    expect(Object.keys(app).sort()).toEqual(["allowed_idps", "aud", "created_at", "domain", "id", "name", "origin", "session_duration", "type", "updated_at"]);
    expect(app).toMatchObject({
      name: "Wiki",
      domain: "wiki.example.com/Docs",
      type: "self_hosted",
      allowed_idps: [idp.id],
      session_duration: "1h30m",
      origin: "https://wiki.internal:8443",
    });
    expect(app.aud).toMatch(/^[0-9a-f]{64}$/);
    const row = await env.DB.prepare("SELECT host, path_prefix FROM access_apps WHERE id = ?").bind(app.id).first();
    expect(row).toEqual({ host: "wiki.example.com", path_prefix: "/Docs" });

    expect((await call("GET", `/access/apps/${app.id}`)).body.result).toEqual(app);
    expect((await call("GET", "/access/apps")).body.result).toContainEqual(app);

    const updated = await call("PUT", `/access/apps/${app.id}`, { name: "Wiki 2", domain: "wiki.example.com", session_duration: "24h" });
    expect(updated.status).toBe(200);
    expect(updated.body.result).toMatchObject({ id: app.id, aud: app.aud, name: "Wiki 2", domain: "wiki.example.com", allowed_idps: [idp.id], origin: app.origin, session_duration: "24h" });
    expect((await call("PUT", `/access/apps/${app.id}`, { aud: "0".repeat(64) })).status).toBe(400);

    const audit = await env.DB.prepare("SELECT action FROM audit_log WHERE target_id = ? ORDER BY logged_at").bind(app.id).all<{ action: string }>();
    expect(audit.results.map((r) => r.action)).toEqual(["access_app.create", "access_app.update"]);

    const policy = await call("POST", `/access/apps/${app.id}/policies`, { name: "all", decision: "allow", include: [{ everyone: {} }] });
    expect(policy.status).toBe(200);
    const deleted = await call("DELETE", `/access/apps/${app.id}`);
    expect(deleted.status).toBe(200);
    expect(deleted.body.result).toEqual({ id: app.id });
    expect(deleted.body.revoked).toMatchObject({ users: 0 });
    expect((await call("GET", `/access/apps/${app.id}`)).status).toBe(404);
    // The foreign key cascade took the policies with the app.
    expect(await env.DB.prepare("SELECT count(*) AS n FROM access_policies WHERE app_id = ?").bind(app.id).first("n")).toBe(0);
    const actions = await env.DB.prepare("SELECT action FROM audit_log WHERE target_id = ? ORDER BY logged_at").bind(app.id).all<{ action: string }>();
    expect(actions.results.map((r) => r.action)).toContain("access_app.delete");
    expect(actions.results.map((r) => r.action)).toContain("sessions.revoke_app");
  });

  it.each([
    [{ domain: "https://app.example.com" }, "without a scheme"],
    [{ domain: "*.example.com" }, "wildcards are not supported"],
    [{ domain: "app.example.com/*" }, "wildcards are not supported"],
    [{ domain: "app.example.com/x?y=1" }, "no query string or fragment"],
    [{ domain: "app.example.com#frag" }, "no query string or fragment"],
    [{ domain: "user@app.example.com" }, "must not contain"],
    [{ domain: "app..example.com" }, "is not a host name"],
    [{ domain: "-app.example.com" }, "is not a host name"],
    [{ domain: "app_x.example.com" }, "is not a host name"],
    [{ domain: "app.example.com:99999" }, "port"],
    [{ domain: "app.example.com:443" }, "default ports"],
    [{ domain: "app.example.com/a/../b" }, "segment"],
    [{ domain: "app.example.com/a%2Fb" }, "must not contain"],
    [{ domain: "" }, "domain: a host name"],
    [{ domain: "edge.test" }, "this Worker's own host"],
    [{ domain: "EDGE.test:8443/admin" }, "this Worker's own host"],
    [{ origin: "ftp://origin.internal" }, "origin: must be an http or https URL"],
    [{ origin: "https://u:p@origin.internal" }, "credentials"],
    [{ origin: "https://origin.internal/#x" }, "fragment"],
    [{ origin: "origin.internal" }, "not an absolute URL"],
    [{ session_duration: "forever" }, "not a duration"],
    [{ session_duration: "30s" }, "between 1m and 730h"],
    [{ session_duration: "731h" }, "between 1m and 730h"],
    [{ type: "saas" }, 'only "self_hosted"'],
    [{ allowed_idps: ["nope"] }, 'allowed_idps: no identity provider with id "nope"'],
    [{ policies: [] }, "policies: unknown member"],
    [{ name: "" }, "name: must not be empty"],
  ])("refuses %j with a clear 400 and writes nothing", async (override, message) => {
    await expectRefused("POST", "/access/apps", { name: "App", domain: `ok-${uniq()}.example.com`, origin: "https://origin.internal", ...override }, 400, message);
  });

  it("refuses a second app on the same host and path prefix (409 naming the owner), also on update", async () => {
    const a = await createApp({ domain: "dup.example.com/admin" });
    await expectRefused("POST", "/access/apps", { name: "B", domain: "DUP.example.com/admin/", origin: "https://o.internal" }, 409, `already served by app "App" (${a.id})`);
    const b = await createApp({ domain: "dup.example.com" });
    await expectRefused("PUT", `/access/apps/${b.id}`, { domain: "dup.example.com/admin" }, 409, "already served by");
    // A different prefix on the same host is another app.
    expect((await call("POST", "/access/apps", { name: "C", domain: "dup.example.com/administrator", origin: "https://o.internal" })).status).toBe(200);
  });

  it("10 concurrent creates on one domain: exactly one succeeds, the others get a clear 409, never a 5xx", async () => {
    const domain = `race-${uniq()}.example.com`;
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => call("POST", "/access/apps", { name: `R${i}`, domain, origin: "https://o.internal" })));
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    for (const r of results.filter((r) => r.status !== 200)) {
      expect(r.status).toBe(409);
      expect(r.body.errors[0].message).toMatch(`domain: ${domain} is already served by`);
    }
    expect(await env.DB.prepare("SELECT count(*) AS n FROM access_apps WHERE host = ?").bind(domain).first("n")).toBe(1);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM audit_log WHERE action = 'access_app.create' AND details LIKE ?").bind(`%${domain}%`).first("n")).toBe(1);
  });

  it("deleting an app revokes the sessions opened for it, and only those", async () => {
    const conn = await createConnection();
    const u = await provisionUser(conn);
    const app = await createApp();
    const keep = await createApp();
    for (const appId of [app.id, keep.id]) {
      const opened = await openSession(env, u.id, { kind: "access", appId, ttlSeconds: 3600 });
      expect(opened.ok).toBe(true);
    }
    expect((await activeSessions(env, u.id)).map((s) => s.appId).sort()).toEqual([app.id, keep.id].sort());
    const res = await call("DELETE", `/access/apps/${app.id}`);
    expect(res.status).toBe(200);
    expect(res.body.revoked).toEqual({ users: 1, mode: "inline" });
    expect((await activeSessions(env, u.id)).map((s) => s.appId)).toEqual([keep.id]);
  });

  it("404s unknown apps", async () => {
    for (const [m, p] of [["GET", "/access/apps/nope"], ["PUT", "/access/apps/nope"], ["DELETE", "/access/apps/nope"], ["GET", "/access/apps/nope/policies"], ["POST", "/access/apps/nope/policies"]] as const) {
      const res = await call(m, p, m === "GET" || m === "DELETE" ? undefined : { name: "x", decision: "allow", include: [{ everyone: {} }] });
      expect(res.status, `${m} ${p}`).toBe(404);
      expect(res.body.errors[0].message).toBe("Access application not found");
    }
  });
});

describe("Access policies API", () => {
  it("creates policies with default precedence max+1, reads, updates and deletes them", async () => {
    const app = await createApp();
    const p1 = await call("POST", `/access/apps/${app.id}/policies`, { name: "domain", decision: "allow", include: [{ email_domain: { domain: "example.com" } }] });
    expect(p1.status).toBe(200);
    expect(p1.body.result).toEqual({
      id: expect.any(String),
      name: "domain",
      decision: "allow",
      include: [{ email_domain: { domain: "example.com" } }],
      exclude: [],
      require: [],
      precedence: 1,
      session_duration: null,
      created_at: expect.any(String),
      updated_at: expect.any(String),
    });
    const p2 = await call("POST", `/access/apps/${app.id}/policies`, { name: "ten", decision: "deny", include: [{ everyone: {} }], precedence: 10, session_duration: "30m" });
    expect(p2.body.result).toMatchObject({ precedence: 10, session_duration: "30m" });
    const p3 = await call("POST", `/access/apps/${app.id}/policies`, { name: "last", decision: "bypass", include: [{ ip: { ip: "10.0.0.0/8" } }] });
    expect(p3.body.result.precedence).toBe(11);

    const list = await call("GET", `/access/apps/${app.id}/policies`);
    expect(list.body.result.map((p: Json) => p.name)).toEqual(["domain", "ten", "last"]);
    expect((await call("GET", `/access/apps/${app.id}/policies/${p1.body.result.id}`)).body.result).toEqual(p1.body.result);

    const upd = await call("PUT", `/access/apps/${app.id}/policies/${p1.body.result.id}`, { precedence: 20, exclude: [{ email: { email: "x@example.com" } }] });
    expect(upd.status).toBe(200);
    expect(upd.body.result).toMatchObject({ name: "domain", precedence: 20, include: [{ email_domain: { domain: "example.com" } }], exclude: [{ email: { email: "x@example.com" } }] });

    // Policies are scoped to their app.
    const other = await createApp();
    expect((await call("GET", `/access/apps/${other.id}/policies/${p1.body.result.id}`)).status).toBe(404);
    expect((await call("DELETE", `/access/apps/${other.id}/policies/${p1.body.result.id}`)).status).toBe(404);

    expect((await call("DELETE", `/access/apps/${app.id}/policies/${p1.body.result.id}`)).status).toBe(200);
    expect((await call("GET", `/access/apps/${app.id}/policies/${p1.body.result.id}`)).status).toBe(404);
    const actions = await env.DB.prepare("SELECT action FROM audit_log WHERE target_id = ? ORDER BY logged_at").bind(p1.body.result.id).all<{ action: string }>();
    expect(actions.results.map((r) => r.action)).toEqual(["access_policy.create", "access_policy.update", "access_policy.delete"]);
  });

  it("refuses a duplicate precedence with a 409 naming the policy that holds it", async () => {
    const app = await createApp();
    const p = await call("POST", `/access/apps/${app.id}/policies`, { name: "first", decision: "allow", include: [{ everyone: {} }], precedence: 5 });
    await expectRefused("POST", `/access/apps/${app.id}/policies`, { name: "second", decision: "allow", include: [{ everyone: {} }], precedence: 5 }, 409, `precedence: 5 is already used by policy "first" (${p.body.result.id})`);
    const q = await call("POST", `/access/apps/${app.id}/policies`, { name: "third", decision: "allow", include: [{ everyone: {} }] });
    await expectRefused("PUT", `/access/apps/${app.id}/policies/${q.body.result.id}`, { precedence: 5 }, 409, "precedence: 5 is already used");
  });

  it("10 concurrent creates without precedence all succeed with distinct precedences", async () => {
    const app = await createApp();
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => call("POST", `/access/apps/${app.id}/policies`, { name: `p${i}`, decision: "allow", include: [{ everyone: {} }] })));
    expect(results.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(results.map((r) => r.body.result.precedence).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it("10 concurrent creates with the same precedence: one succeeds, the rest get a clear 409, never a 5xx", async () => {
    const app = await createApp();
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => call("POST", `/access/apps/${app.id}/policies`, { name: `p${i}`, decision: "allow", include: [{ everyone: {} }], precedence: 3 })));
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    for (const r of results.filter((r) => r.status !== 200)) {
      expect(r.status).toBe(409);
      expect(r.body.errors[0].message).toMatch("precedence: 3 is already used by policy");
    }
  });

  it.each([
    [{ decision: "maybe" }, "decision"],
    [{ include: [{ emial: { email: "a@b.c" } }] }, "include[0].emial: unknown selector"],
    [{ include: [{ email_domain: { domain: "@example.com" } }] }, "include[0].email_domain.domain"],
    [{ include: [{ ip: { ip: "10.0.0.0/33" } }] }, "include[0].ip.ip"],
    [{ exclude: [{ everyone: {}, email: { email: "a@b.c" } }] }, "exclude[0]: must have exactly one selector"],
    [{ precedence: 0 }, "precedence"],
    [{ session_duration: "2000h" }, "session_duration: must be between 1m and 730h"],
    [{ id: "x" }, "id: unknown member"],
    [{ include: [{ group: { id: "no-such-group" } }] }, 'include[0].group.id: no reusable Access group with id "no-such-group"'],
    [{ require: [{ okta: { name: "x", identity_provider_id: "no-such-idp" } }] }, 'require[0].okta.identity_provider_id: no identity provider with id "no-such-idp"'],
  ])("refuses %j with a clear 400 and writes nothing", async (override, message) => {
    const app = await createApp();
    await expectRefused("POST", `/access/apps/${app.id}/policies`, { name: "p", decision: "allow", include: [{ everyone: {} }], ...override }, 400, message);
  });

  describe.each([
    ["azureAD", (idp: string) => ({ azureAD: { id: "6b1c0a52-0000-4000-8000-000000000001", identity_provider_id: idp } }), (idp: string) => ({ azureAD: { id: "6B1C0A52-0000-4000-8000-00000000000F", identity_provider_id: idp } }), 'azureAD.id: no SCIM group with externalId "6B1C0A52-0000-4000-8000-00000000000F"'],
    ["okta", (idp: string) => ({ okta: { name: "Engineering", identity_provider_id: idp } }), (idp: string) => ({ okta: { name: "Enginering", identity_provider_id: idp } }), 'okta.name: no SCIM group with displayName "Enginering"'],
    ["oidc", (idp: string) => ({ oidc: { claim_name: "groups", claim_value: "engineering", identity_provider_id: idp } }), (idp: string) => ({ oidc: { claim_name: "groups", claim_value: "eng", identity_provider_id: idp } }), 'oidc.claim_value: no SCIM group with displayName "eng"'],
  ] as const)("%s group rules", (type, existing, missing, message) => {
    it("accept a SCIM group of that connection and refuse one that does not exist there (also in reusable groups)", async () => {
      const conn = await createConnection({ type });
      const other = await createConnection({ type });
      await scimGroup(conn, "Engineering", "6b1c0a52-0000-4000-8000-000000000001");
      // The same group name in ANOTHER connection does not count.
      await scimGroup(other, "Enginering", "6b1c0a52-0000-4000-8000-00000000000f");
      await scimGroup(other, "eng");
      const app = await createApp();
      const ok = await call("POST", `/access/apps/${app.id}/policies`, { name: "ok", decision: "allow", include: [existing(conn.id)] });
      expect(ok.status, JSON.stringify(ok.body)).toBe(200);
      await expectRefused("POST", `/access/apps/${app.id}/policies`, { name: "bad", decision: "allow", include: [{ everyone: {} }], exclude: [missing(conn.id)] }, 400, `exclude[0].${message} in identity provider`);
      await expectRefused("PUT", `/access/apps/${app.id}/policies/${ok.body.result.id}`, { require: [missing(conn.id)] }, 400, `require[0].${message}`);
      await expectRefused("POST", "/access/groups", { name: `g-${uniq()}`, include: [missing(conn.id)] }, 400, `include[0].${message}`);
      expect((await call("POST", "/access/groups", { name: `g-${uniq()}`, include: [existing(conn.id)] })).status).toBe(200);
    });

    it("are not checked when the connection has SCIM off (they match the token's group claim)", async () => {
      const conn = await createConnection({ type, scim_config: { enabled: false } });
      const app = await createApp();
      expect((await call("POST", `/access/apps/${app.id}/policies`, { name: "claims", decision: "allow", include: [missing(conn.id)] })).status).toBe(200);
    });
  });
});

describe("reusable Access groups API", () => {
  it("CRUD in Cloudflare's shape; referenced groups cannot be deleted; cycles are refused", async () => {
    const created = await call("POST", "/access/groups", { name: "Staff", include: [{ email_domain: { domain: "example.com" } }] });
    expect(created.status).toBe(200);
    const g = created.body.result;
    expect(g).toEqual({ id: expect.any(String), name: "Staff", include: [{ email_domain: { domain: "example.com" } }], exclude: [], require: [], created_at: expect.any(String), updated_at: expect.any(String) });
    expect((await call("GET", `/access/groups/${g.id}`)).body.result).toEqual(g);
    expect((await call("GET", "/access/groups")).body.result).toContainEqual(g);
    await expectRefused("POST", "/access/groups", { name: "Staff", include: [] }, 409, 'a reusable group named "Staff" already exists');
    await expectRefused("POST", "/access/groups", { include: [] }, 400, "name");

    const outer = (await call("POST", "/access/groups", { name: `Outer-${uniq()}`, include: [{ group: { id: g.id } }] })).body.result;
    const app = await createApp();
    const pol = (await call("POST", `/access/apps/${app.id}/policies`, { name: "uses staff", decision: "allow", include: [{ everyone: {} }], exclude: [{ group: { id: g.id } }] })).body.result;

    await expectRefused("DELETE", `/access/groups/${g.id}`, undefined, 400, new RegExp(`still referenced by .*policy "uses staff" \\(${pol.id}\\) of app ${app.id}.*group "${outer.name}" \\(${outer.id}\\)`));
    await expectRefused("PUT", `/access/groups/${g.id}`, { include: [{ group: { id: g.id } }] }, 400, "a reusable group cannot name itself");
    await expectRefused("PUT", `/access/groups/${g.id}`, { include: [{ group: { id: outer.id } }] }, 400, "cannot name itself through other groups");

    const renamed = await call("PUT", `/access/groups/${g.id}`, { name: "Staff 2" });
    expect(renamed.body.result).toMatchObject({ name: "Staff 2", include: [{ email_domain: { domain: "example.com" } }] });

    expect((await call("DELETE", `/access/apps/${app.id}/policies/${pol.id}`)).status).toBe(200);
    expect((await call("DELETE", `/access/groups/${outer.id}`)).status).toBe(200);
    expect((await call("DELETE", `/access/groups/${g.id}`)).status).toBe(200);
    expect((await call("GET", `/access/groups/${g.id}`)).status).toBe(404);
  });
});

describe("reusable groups under concurrency", () => {
  it("a group deleted while a policy naming it is saved: never a policy left naming a missing group, never a 5xx", async () => {
    const app = await createApp();
    for (let i = 0; i < 8; i++) {
      const g = (await call("POST", "/access/groups", { name: `racy-${uniq()}`, include: [{ everyone: {} }] })).body.result;
      const [del, pol] = await Promise.all([
        call("DELETE", `/access/groups/${g.id}`),
        call("POST", `/access/apps/${app.id}/policies`, { name: `p${i}`, decision: "allow", include: [{ everyone: {} }], exclude: [{ group: { id: g.id } }] }),
      ]);
      expect([del.status, pol.status].every((s) => s < 500), JSON.stringify([del.body, pol.body])).toBe(true);
      const groupExists = (await env.DB.prepare("SELECT count(*) AS n FROM access_groups WHERE id = ?").bind(g.id).first("n")) === 1;
      const policyExists = pol.status === 200;
      // Exactly one of the two writes wins; a policy never outlives the group it excludes.
      expect(groupExists).toBe(policyExists);
      expect(del.status === 200).toBe(!policyExists);
      if (policyExists) await call("DELETE", `/access/apps/${app.id}/policies/${pol.body.result.id}`);
    }
  });
});

describe("findAppForRequest", () => {
  it("selects by host (case-insensitive, port-aware) and the longest path prefix at a segment boundary, in one D1 round trip", async () => {
    const host = `lk-${uniq()}.example.com`;
    const root = await createApp({ domain: host });
    const admin = await createApp({ domain: `${host}/admin` });
    const deep = await createApp({ domain: `${host}/admin/deep` });
    const ported = await createApp({ domain: `${host}:8443/admin` });
    const cases: [string, string, string | null][] = [
      [host, "/", root.id],
      [host.toUpperCase(), "/x", root.id],
      [`${host}.`, "/x", root.id],
      [host, "/admin", admin.id],
      [host, "/admin/", admin.id],
      [host, "/admin/x", admin.id],
      [host, "/%61dmin/x", admin.id],
      [host, "/administrator", root.id],
      [host, "/Admin", root.id],
      [host, "/admin/deep/er", deep.id],
      [host, "/admin/deeper", admin.id],
      [`${host}:8443`, "/admin/x", ported.id],
      [`${host}:8443`, "/", null],
      [`other-${host}`, "/", null],
    ];
    for (const [h, p, expected] of cases) {
      const { db, calls } = recordingD1();
      const found = await findAppForRequest(db, h, p);
      expect(found?.app.id ?? null, `${h}${p}`).toBe(expected);
      expect(calls).toEqual(["batch:3"]);
    }
    expect(await listAppHosts(env.DB)).toEqual(expect.arrayContaining([host, `${host}:8443`]));
  });

  it("returns the app's policies in precedence order with the reusable groups they name, transitively", async () => {
    const inner = (await call("POST", "/access/groups", { name: `inner-${uniq()}`, include: [{ email: { email: "a@example.com" } }] })).body.result;
    const outer = (await call("POST", "/access/groups", { name: `outer-${uniq()}`, include: [{ group: { id: inner.id } }] })).body.result;
    await call("POST", "/access/groups", { name: `unrelated-${uniq()}`, include: [{ everyone: {} }] });
    const app = await createApp();
    await call("POST", `/access/apps/${app.id}/policies`, { name: "b", decision: "allow", include: [{ everyone: {} }], exclude: [{ group: { id: outer.id } }], precedence: 7 });
    await call("POST", `/access/apps/${app.id}/policies`, { name: "a", decision: "deny", include: [{ everyone: {} }], precedence: 2 });
    const found = await getAppById(env.DB, app.id);
    expect(found?.app).toMatchObject({ id: app.id, aud: app.aud, host: app.domain, pathPrefix: "", allowedIdps: [] });
    expect(found?.policies.map((p) => [p.name, p.precedence])).toEqual([["a", 2], ["b", 7]]);
    expect(found?.policies[1]?.exclude).toEqual([{ group: { id: outer.id } }]);
    expect([...(found?.groupsById.keys() ?? [])].sort()).toEqual([inner.id, outer.id].sort());
    expect(found?.groupsById.get(inner.id)).toMatchObject({ include: [{ email: { email: "a@example.com" } }] });
    expect(await getAppById(env.DB, "nope")).toBeNull();
  });
});
