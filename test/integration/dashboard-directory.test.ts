import { env, exports } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { finishLogin, startLogin } from "../../src/access/oidc/client";
import { getIdentityProvider } from "../../src/admin/identity-providers";
import { database } from "../../src/db";
import { ADMIN_TOKEN, ORIGIN, admin, checkSession, createConnection, openSession, provisionUser, scim } from "../helpers";
import { routeFetch } from "../support/fetch-router";
import { createTestIdp, type TestIdp } from "../support/test-idp";

/** A dashboard request with the break-glass token. */
function page(method: string, path: string, form?: Record<string, string>): Promise<Response> {
  return exports.default.fetch(`${ORIGIN}/dashboard${path}`, {
    method,
    redirect: "manual",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(form ? { "content-type": "application/x-www-form-urlencoded" } : {}) },
    body: form ? new URLSearchParams(form).toString() : undefined,
  });
}

const csrfOf = (html: string) => /name="csrf" value="([0-9a-f]+)"/.exec(html)![1]!;
const tag = () => crypto.randomUUID().slice(0, 8);

async function seed() {
  const t = tag();
  const conn = await createConnection({ name: `dir-${t}` });
  const users = [];
  for (const n of ["alice", "albert", "bob"]) users.push(await provisionUser(conn, `${n}-${t}@example.com`));
  const g = await scim(conn, "POST", "/Groups", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"], displayName: `risky-${t}`, members: users.slice(0, 2).map((u) => ({ value: u.id })) });
  expect(g.status).toBe(201);
  return { t, conn, users, group: (await g.json()) as { id: string; displayName: string } };
}

describe("dashboard: IdP connections", () => {
  it("creates a connection, shows the SCIM URL and secret once, and later pages never show it", async () => {
    const list = await page("GET", "/connections");
    expect(list.status).toBe(200);
    const csrf = csrfOf(await list.text());
    const name = `okta-${tag()}`;
    const created = await page("POST", "/connections", { csrf, name, type: "okta", enabled: "on", user_deprovision: "on", identity_update_behavior: "automatic" });
    expect(created.status).toBe(201);
    expect(created.headers.get("cache-control")).toBe("no-store");
    const html = await created.text();
    const secret = /data-testid="scim-secret">([^<]+)</.exec(html)![1]!;
    const baseUrl = /data-testid="scim-base-url">([^<]+)</.exec(html)![1]!;
    expect(html).toContain("Tenant URL");
    expect(html).toContain("SCIM connector base URL");
    expect(html).toContain("HTTP Header");
    // The secret works against the SCIM endpoint.
    const id = /\/dashboard\/connections\/([0-9a-f-]{36})/.exec(html)![1]!;
    expect((await scim({ id, secret, scimBaseUrl: baseUrl }, "GET", "/Users")).status).toBe(200);
    for (const path of ["/connections", `/connections/${id}`]) {
      const later = await (await page("GET", path)).text();
      expect(later).toContain(name);
      expect(later).not.toContain(secret);
    }
    const apiGet = await (await admin("GET", `/api/v1/access/identity_providers/${id}`)).text();
    expect(apiGet).not.toContain(secret);
  });

  it("requires CSRF to create", async () => {
    const res = await page("POST", "/connections", { name: "x", type: "okta" });
    expect(res.status).toBe(403);
  });

  it("saves settings, rotates the secret (shown once), shows last sync and errors, deletes with confirmation", async () => {
    const { conn } = await seed();
    await scim(conn, "POST", "/Users", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"] }); // 400: no userName
    const detail = await page("GET", `/connections/${conn.id}`);
    const html = await detail.text();
    expect(html).toMatch(/data-testid="last-sync">\d{4}-/);
    expect(html).toMatch(/data-testid="error-count"><a[^>]*>1</);
    const status = (await (await admin("GET", `/api/v1/access/identity_providers/${conn.id}/scim/status`)).json()) as { result: { last_sync_at: string; errors_24h: number } };
    expect(status.result.errors_24h).toBe(1);
    const csrf = csrfOf(html);
    const saved = await page("POST", `/connections/${conn.id}/settings`, { csrf, enabled: "on", user_deprovision: "on", seat_deprovision: "on", identity_update_behavior: "reauth" });
    expect(saved.status).toBe(303);
    const idp = (await (await admin("GET", `/api/v1/access/identity_providers/${conn.id}`)).json()) as { result: { scim_config: Record<string, unknown> } };
    expect(idp.result.scim_config).toMatchObject({ seat_deprovision: true, identity_update_behavior: "reauth" });
    const rotated = await (await page("POST", `/connections/${conn.id}/rotate`, { csrf })).text();
    const secret = /data-testid="scim-secret">([^<]+)</.exec(rotated)![1]!;
    expect((await scim({ ...conn, secret }, "GET", "/Users")).status).toBe(200);
    expect((await scim(conn, "GET", "/Users")).status).toBe(401);
    expect(await (await page("GET", `/connections/${conn.id}`)).text()).not.toContain(secret);
    expect((await page("POST", `/connections/${conn.id}/delete`, { csrf })).status).toBe(400);
    expect((await page("POST", `/connections/${conn.id}/delete`, { csrf, confirm: "on" })).status).toBe(200);
    expect((await page("GET", `/connections/${conn.id}`)).status).toBe(404);
  });
});

describe("dashboard: OIDC sign-in settings of a connection", () => {
  let restore = () => {};
  afterEach(() => restore());

  /** An in-test OIDC provider (discovery, token, JWKS) that the Worker's fetch reaches. */
  async function testIdp(): Promise<TestIdp> {
    const idp = await createTestIdp({ issuer: `https://idp-${tag()}.test`, clientSecret: `s3cret-${crypto.randomUUID()}` });
    restore = routeFetch({ [idp.host]: idp.handle });
    return idp;
  }

  /** A login against the stored connection: the test IdP's token endpoint checks the client secret. */
  async function loginWorks(idp: TestIdp, id: string) {
    const row = await getIdentityProvider(database(env), id);
    const redirect = "https://edge.test/cdn-cgi/access/callback";
    idp.nextLogin = { email: "ann@example.com" };
    const start = await startLogin(env, row, redirect);
    return finishLogin(env, row, redirect, await idp.approve(start.authorizationUrl), start);
  }

  it("creates an oidc connection usable for login from the form; the secret is sealed and never shown", async () => {
    const idp = await testIdp();
    const csrf = csrfOf(await (await page("GET", "/connections")).text());
    const created = await page("POST", "/connections", {
      csrf, name: `oidc-${tag()}`, type: "oidc", enabled: "on", user_deprovision: "on", identity_update_behavior: "automatic",
      client_id: idp.clientId, client_secret: idp.clientSecret, issuer_url: idp.issuer, scopes: "email  groups", pkce_enabled: "on",
      // Another type's fields are ignored (the form shows every type's group without script).
      directory_id: "contoso.com", okta_account: "https://x.okta.com",
    });
    expect(created.status).toBe(201);
    const id = /\/dashboard\/connections\/([0-9a-f-]{36})/.exec(await created.text())![1]!;
    expect(idp.requests.discovery).toBe(1);
    const raw = await env.DB.prepare("SELECT config, client_secret_ciphertext FROM identity_providers WHERE id = ?").bind(id).first<{ config: string; client_secret_ciphertext: string }>();
    expect(raw!.client_secret_ciphertext).toMatch(/^v1\./);
    expect(raw!.client_secret_ciphertext).not.toContain(idp.clientSecret);
    expect(JSON.parse(raw!.config)).toEqual({ client_id: idp.clientId, issuer_url: idp.issuer, scopes: ["email", "groups"], pkce_enabled: true, auth_url: idp.endpoints.authorization, token_url: idp.endpoints.token, certs_url: idp.endpoints.jwks });
    const detail = await (await page("GET", `/connections/${id}`)).text();
    expect(detail).toContain(`value="${idp.clientId}"`);
    expect(detail).toContain(`value="email groups"`);
    expect(detail).toMatch(/data-testid="oidc-secret-state">A secret is stored/);
    expect(detail).not.toContain('data-testid="oidc-fields-okta"'); // only the connection's own type
    for (const text of [detail, await (await page("GET", "/connections")).text(), await (await admin("GET", `/api/v1/access/identity_providers/${id}`)).text(), await (await admin("GET", "/api/v1/access/identity_providers")).text()]) {
      expect(text).not.toContain(idp.clientSecret);
    }
    expect(await loginWorks(idp, id)).toMatchObject({ ok: true, login: { email: "ann@example.com" } });
    expect(idp.lastAuthorization!.get("scope")).toBe("openid email groups");
  });

  it("editing without a secret keeps the stored one (and claims set by the API); a new one replaces it", async () => {
    const idp = await testIdp();
    const res = await admin("POST", "/api/v1/access/identity_providers", { name: `oidc-${tag()}`, type: "oidc", config: { ...idp.connection().config, email_claim_name: "mail" } });
    const id = ((await res.json()) as { result: { id: string } }).result.id;
    const before = await getIdentityProvider(database(env), id);
    const csrf = csrfOf(await (await page("GET", `/connections/${id}`)).text());
    // PKCE off, scopes changed, secret left empty.
    const saved = await page("POST", `/connections/${id}/oidc`, { csrf, client_id: idp.clientId, client_secret: "", issuer_url: idp.issuer, scopes: "email" });
    expect(saved.status).toBe(303);
    const after = await getIdentityProvider(database(env), id);
    expect(after.clientSecretCiphertext).toBe(before.clientSecretCiphertext);
    expect(JSON.parse(after.config)).toMatchObject({ pkce_enabled: false, scopes: ["email"], email_claim_name: "mail", token_url: idp.endpoints.token });
    const login = await loginWorks(idp, id);
    expect(login).toMatchObject({ ok: true });
    expect(idp.lastAuthorization!.has("code_challenge")).toBe(false);
    // A typed secret replaces the stored one: the test IdP only knows its own, so the login now fails.
    await page("POST", `/connections/${id}/oidc`, { csrf, client_id: idp.clientId, client_secret: "another-secret", issuer_url: idp.issuer });
    expect((await getIdentityProvider(database(env), id)).clientSecretCiphertext).not.toBe(before.clientSecretCiphertext);
    expect(await loginWorks(idp, id)).toMatchObject({ ok: false });
  });

  it("shows the service's 400 on the form: a bad issuer on create and on the detail page", async () => {
    const idp = await testIdp();
    const csrf = csrfOf(await (await page("GET", "/connections")).text());
    const name = `bad-${tag()}`;
    const wrong = `https://idp-${tag()}.test`;
    restore = routeFetch({ [idp.host]: idp.handle, [new URL(wrong).host]: () => new Response("nope", { status: 404 }) });
    const refused = await page("POST", "/connections", { csrf, name, type: "oidc", client_id: "c", client_secret: "typed-secret-1", issuer_url: wrong });
    expect(refused.status).toBe(400);
    const html = await refused.text();
    expect(html).toMatch(/role="alert" data-testid="error">config\.issuer_url: OpenID discovery at https:\/\/idp-[0-9a-f]+\.test\/\.well-known\/openid-configuration failed/);
    expect(html).toContain('data-testid="connection-create-form"'); // the form again, with what was typed but the secret
    expect(html).toContain(`value="${name}"`);
    expect(html).toContain(`value="${wrong}"`);
    expect(html).not.toContain("typed-secret-1");
    expect(await env.DB.prepare("SELECT id FROM identity_providers WHERE name = ?").bind(name).first()).toBeNull();

    const created = await admin("POST", "/api/v1/access/identity_providers", { name: `oidc-${tag()}`, ...idp.connection() });
    const id = ((await created.json()) as { result: { id: string } }).result.id;
    const before = await getIdentityProvider(database(env), id);
    const detail = await page("POST", `/connections/${id}/oidc`, { csrf, client_id: idp.clientId, issuer_url: wrong, pkce_enabled: "on" });
    expect(detail.status).toBe(400);
    const detailHtml = await detail.text();
    expect(detailHtml).toMatch(/role="alert" data-testid="error">config\.issuer_url: OpenID discovery/);
    expect(detailHtml).toContain('data-testid="connection-oidc-form"');
    expect((await getIdentityProvider(database(env), id)).config).toBe(before.config);
    // Even for a SCIM-only save (no client_id), a malformed field is refused.
    expect((await page("POST", `/connections/${id}/oidc`, { csrf, client_id: "", issuer_url: "not a url" })).status).toBe(400);
  });
});

describe("dashboard: users", () => {
  it("searches by email prefix across connections, paged, on the page and the API", async () => {
    const { t } = await seed();
    const other = await createConnection();
    await provisionUser(other, `alma-${t}@example.com`);
    // Emails are `<name>-<t>@…`: search by a prefix shared by alice, albert and alma only.
    const res = (await (await admin("GET", `/api/v1/access/users?search=al&per_page=200`)).json()) as { result: { email: string | null }[] };
    const mine = res.result.filter((u) => u.email?.includes(t)).map((u) => u.email!.split("-")[0]).sort();
    expect(mine).toEqual(["albert", "alice", "alma"]);
    const bob = (await (await admin("GET", `/api/v1/access/users?search=BOB-${t}`)).json()) as { result: { email: string }[]; result_info: { total_count: number } };
    expect(bob.result.map((u) => u.email)).toEqual([`bob-${t}@example.com`]);
    expect(bob.result_info.total_count).toBe(1);
    const p1 = (await (await admin("GET", `/api/v1/access/users?search=al&per_page=1`)).json()) as { result: { id: string }[]; result_info: { total_count: number; total_pages: number } };
    const p2 = (await (await admin("GET", `/api/v1/access/users?search=al&per_page=1&page=2`)).json()) as { result: { id: string }[] };
    expect(p1.result).toHaveLength(1);
    expect(p1.result_info.total_count).toBeGreaterThanOrEqual(3);
    expect(p2.result[0]!.id).not.toBe(p1.result[0]!.id);
    const html = await (await page("GET", `/users?search=alice-${t}`)).text();
    expect(html).toContain(`alice-${t}@example.com`);
    expect(html).not.toContain(`bob-${t}@example.com`);
    expect((await admin("GET", "/api/v1/access/users?per_page=0")).status).toBe(400);
  });

  it("searches by display name prefix, case-insensitively", async () => {
    const conn = await createConnection();
    const t = tag();
    await scim(conn, "POST", "/Users", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: `zz-${t}@example.com`, displayName: `Quentin ${t}` });
    const res = (await (await admin("GET", `/api/v1/access/users?search=quentin ${t}`)).json()) as { result: { user_name: string }[] };
    expect(res.result.map((u) => u.user_name)).toEqual([`zz-${t}@example.com`]);
  });

  it("shows status, groups, sessions and seat; Revoke all sessions needs CSRF and revokes", async () => {
    const { users, group } = await seed();
    const alice = users[0]!;
    const s1 = await openSession(alice.id);
    const s2 = await openSession(alice.id, "gateway", { device_id: "laptop-1" });
    const detail = await page("GET", `/users/${alice.id}`);
    const html = await detail.text();
    expect(html).toContain(group.displayName);
    expect(html).toMatch(/data-testid="user-status">active</);
    expect(html).toContain("uses a seat");
    expect(html.match(/data-testid="session-row"/g)).toHaveLength(2);
    const api = (await (await admin("GET", `/api/v1/access/users/${alice.id}`)).json()) as { result: { groups: { id: string }[]; active_sessions: unknown[] } };
    expect(api.result.groups.map((g) => g.id)).toEqual([group.id]);
    expect(api.result.active_sessions).toHaveLength(2);

    expect((await page("POST", `/users/${alice.id}/revoke_sessions`, {})).status).toBe(403);
    expect((await checkSession(alice.id, s1)).status).toBe("valid");
    const revoked = await page("POST", `/users/${alice.id}/revoke_sessions`, { csrf: csrfOf(html) });
    expect(revoked.status).toBe(303);
    expect(revoked.headers.get("location")).toBe(`/dashboard/users/${alice.id}?revoked=2`);
    expect((await checkSession(alice.id, s1)).status).not.toBe("valid");
    expect((await checkSession(alice.id, s2)).status).not.toBe("valid");
    // The API twin calls the same service.
    const s3 = await openSession(alice.id);
    const viaApi = (await (await admin("POST", `/api/v1/access/users/${alice.id}/revoke_sessions`)).json()) as { result: { revoked_sessions: number } };
    expect(viaApi.result.revoked_sessions).toBe(1);
    expect((await checkSession(alice.id, s3)).status).not.toBe("valid");
    expect((await admin("POST", `/api/v1/access/users/${crypto.randomUUID()}/revoke_sessions`)).status).toBe(404);
  });
});

describe("dashboard: groups", () => {
  it("lists a connection's groups with member counts, searches, and pages members", async () => {
    const { conn, group, users } = await seed();
    const html = await (await page("GET", `/groups?idp_id=${conn.id}`)).text();
    expect(html).toContain(group.displayName);
    expect(html).toMatch(/data-testid="member-count">2</);
    const members1 = await (await page("GET", `/groups/${conn.id}/${group.id}?per_page=1`)).text();
    const members2 = await (await page("GET", `/groups/${conn.id}/${group.id}?per_page=1&page=2`)).text();
    expect(members1.match(/data-testid="member-row"/g)).toHaveLength(1);
    expect(members1).toContain("Page 1 of 2");
    expect(members1 + members2).toContain(users[0]!.userName);
    expect(members1 + members2).toContain(users[1]!.userName);
    const api = (await (await admin("GET", `/api/v1/access/identity_providers/${conn.id}/scim/groups/${group.id}/members`)).json()) as { result_info: { total_count: number } };
    expect(api.result_info.total_count).toBe(2);
    // Another connection's group is not found through this connection.
    const other = await createConnection();
    expect((await admin("GET", `/api/v1/access/identity_providers/${other.id}/scim/groups/${group.id}/members`)).status).toBe(404);
    expect((await page("GET", `/groups/${other.id}/${group.id}`)).status).toBe(404);
  });
});

describe("dashboard: provisioning log", () => {
  it("filters by user email, outcome and method, and shows the redacted body", async () => {
    const conn = await createConnection();
    const t = tag();
    await scim(conn, "POST", "/Users", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: `pw-${t}@example.com`, password: "hunter2-secret", emails: [{ value: `pw-${t}@example.com`, primary: true }] });
    await scim(conn, "POST", "/Users", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"] });
    const html = await (await page("GET", `/logs/scim?idp_id=${conn.id}&resource_user_email=PW-${t}@example.com&request_method=POST`)).text();
    expect(html.match(/data-testid="log-row"/g)).toHaveLength(1);
    expect(html).toContain("[REDACTED]");
    expect(html).not.toContain("hunter2-secret");
    const failures = await (await page("GET", `/logs/scim?idp_id=${conn.id}&status=FAILURE&since=2000-01-01T00:00`)).text();
    expect(failures.match(/data-testid="log-row"/g)).toHaveLength(1);
    expect((await page("GET", "/logs/scim?status=nope")).status).toBe(400);
    const api = (await (await admin("GET", `/api/v1/access/logs/scim/updates?idp_id=${conn.id}&limit=1&page=2`)).json()) as { result: unknown[] };
    expect(api.result).toHaveLength(1);
  });
});

it("pages need the admin token", async () => {
  const res = await exports.default.fetch(`${ORIGIN}/dashboard/users`, { redirect: "manual", headers: { authorization: "Bearer wrong" } });
  expect(res.status).toBe(401);
  void env;
});
