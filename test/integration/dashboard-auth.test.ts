import { env, exports } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { admin, ADMIN_TOKEN, createConnection, ORIGIN, type TestConnection } from "../helpers";
import { accessWorld, provisionUser, scim, type AccessWorld } from "../support/access";
import type { Browser } from "../support/browser";

let world: AccessWorld | undefined;
beforeEach(async () => {
  // The dashboard policy is one per deployment: every test starts before first-run set-up.
  await env.DB.prepare("DELETE FROM access_settings WHERE key = 'dashboard_policy'").run();
});
afterEach(() => {
  world?.restore();
  world = undefined;
});

const csrfOf = (html: string) => /name="csrf" value="([0-9a-f]{64})"/.exec(html)?.[1] ?? "";
const storedPolicy = async () => {
  const row = await env.DB.prepare("SELECT value FROM access_settings WHERE key = 'dashboard_policy'").first<{ value: string }>();
  return row ? (JSON.parse(row.value) as { name: string; decision: string; include: unknown[]; precedence: number }) : null;
};

async function group(conn: TestConnection, displayName: string, memberIds: string[] = [], externalId = crypto.randomUUID()): Promise<string> {
  const res = await scim(conn, "POST", "/Groups", {
    schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"],
    displayName,
    externalId,
    members: memberIds.map((value) => ({ value })),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

/** Signs `email` in on the team host (org session) and lands on `path` under /dashboard. */
async function dashboardLogin(w: AccessWorld, email: string, path = "/dashboard/") {
  w.idp.nextLogin = { email };
  return w.browser.get(`${ORIGIN}/cdn-cgi/access/login/edge.test?redirect_url=${encodeURIComponent(`${ORIGIN}${path}`)}&idp=${w.conn.id}`);
}

/** Unlocks set-up with the break-glass token in `browser`; returns the policy form's HTML. */
async function unlock(browser: Browser, token = ADMIN_TOKEN) {
  return browser.post(`${ORIGIN}/dashboard/setup/unlock`, new URLSearchParams({ admin_token: token }));
}

describe("dashboard: who gets in", () => {
  it("without a session: pages redirect to the team login and back; before set-up only /dashboard/setup answers, with the token form alone", async () => {
    const res = await exports.default.fetch(`${ORIGIN}/dashboard/users`, { redirect: "manual" });
    expect(res.status).toBe(302);
    const login = new URL(res.headers.get("location")!);
    expect(login.pathname).toBe("/cdn-cgi/access/login/edge.test");
    expect(login.searchParams.get("redirect_url")).toBe(`${ORIGIN}/dashboard/users`);
    const setup = await exports.default.fetch(`${ORIGIN}/dashboard/setup`);
    expect(setup.status).toBe(200);
    const html = await setup.text();
    expect(html).toContain('data-testid="setup-admin-token"');
    expect(html).not.toContain('data-testid="setup-group"'); // nothing of the directory before the token
  });

  it("set-up: a wrong break-glass token is refused (401, audited, no cookie); the right one lets the admin pick a SCIM group, saved as an Access policy of the connection's rule type", async () => {
    world = await accessWorld({ kind: "okta" });
    const ada = await provisionUser(world.conn, "ada@example.com");
    const gid = await group(world.conn, "Dashboard Admins", [ada.id]);
    const b = world.browser;

    const wrong = await unlock(b, "not-the-token");
    expect(wrong.response.status).toBe(401);
    expect(await wrong.response.text()).toContain("not the break-glass token");
    expect(b.cookie("edge.test", "zt_dashboard_setup")).toBeUndefined();
    const failed = await env.DB.prepare("SELECT count(*) AS n FROM audit_log WHERE action = 'dashboard_setup.unlock_failed'").first<{ n: number }>();
    expect(failed!.n).toBeGreaterThan(0);
    // A forged grant cookie is no grant.
    b.setCookie("edge.test", "zt_dashboard_setup", `${Math.floor(Date.now() / 1000) + 600}.${"0".repeat(64)}`, { path: "/dashboard/setup", secure: true });
    expect(await (await b.get(`${ORIGIN}/dashboard/setup`)).response.text()).not.toContain('data-testid="setup-group"');

    const right = await unlock(b);
    expect(right.hops[0]!.status).toBe(303);
    const cookie = b.cookie("edge.test", "zt_dashboard_setup")!;
    expect(cookie.httpOnly).toBe(true);
    expect(cookie.sameSite).toBe("Strict");
    const formPage = await (await b.get(`${ORIGIN}/dashboard/setup?idp=${world.conn.id}&q=dash`)).response.text();
    expect(formPage).toContain(`value="${gid}"`);
    const csrf = csrfOf(formPage);

    // The grant holder's form needs its CSRF token too.
    const noCsrf = await b.post(`${ORIGIN}/dashboard/setup`, new URLSearchParams({ mode: "group", identity_provider_id: world.conn.id, group_id: gid }));
    expect(noCsrf.response.status).toBe(403);
    expect(await storedPolicy()).toBeNull();

    const saved = await b.post(`${ORIGIN}/dashboard/setup`, new URLSearchParams({ csrf, mode: "group", identity_provider_id: world.conn.id, group_id: gid }));
    expect(saved.response.status).toBe(200);
    expect(await saved.response.text()).toContain('data-testid="setup-saved"');
    expect(await storedPolicy()).toEqual({
      name: "Dashboard admins",
      decision: "allow",
      include: [{ okta: { name: "Dashboard Admins", identity_provider_id: world.conn.id } }],
      exclude: [],
      require: [],
      precedence: 1,
    });
    const audit = await env.DB.prepare("SELECT actor FROM audit_log WHERE action = 'dashboard_policy.update' ORDER BY logged_at DESC LIMIT 1").first<{ actor: string }>();
    expect(audit!.actor).toBe("admin:token");

    // Set-up is now closed to anyone the policy does not let in, the old grant included.
    expect(b.cookie("edge.test", "zt_dashboard_setup")).toBeUndefined();
    b.setCookie("edge.test", "zt_dashboard_setup", cookie.value, { path: "/dashboard/setup", secure: true });
    const closed = await b.get(`${ORIGIN}/dashboard/setup`, { maxHops: 0 });
    expect(closed.response.status).toBe(302);
    expect(new URL(closed.response.headers.get("location")!).pathname).toBe("/cdn-cgi/access/login/edge.test");
    const again = await b.post(`${ORIGIN}/dashboard/setup/unlock`, new URLSearchParams({ admin_token: ADMIN_TOKEN }), { maxHops: 0 });
    expect(again.response.status).toBe(302);
    expect(new URL(again.response.headers.get("location")!).pathname).toBe("/cdn-cgi/access/login/edge.test");

    // The member signs in and uses the dashboard, and may edit the policy on the set-up page.
    const inside = await dashboardLogin(world, "ada@example.com", "/dashboard/setup");
    expect(inside.response.status).toBe(200);
    expect(await inside.response.text()).toContain('data-testid="setup-current"');
  });

  it("Entra ID connections get an azureAD rule on the group's object id; OIDC connections a groups-claim rule", async () => {
    const entra = await createConnection({ type: "azureAD" });
    const objectId = crypto.randomUUID();
    const entraGroup = await group(entra, "Ops", [], objectId);
    const oidc = await createConnection({ type: "oidc" });
    const oidcGroup = await group(oidc, "ops-admins");
    let res = await admin("PUT", "/api/v1/dashboard/policy", { scim_group: { identity_provider_id: entra.id, id: entraGroup } });
    expect(res.status).toBe(200);
    expect((await storedPolicy())!.include).toEqual([{ azureAD: { id: objectId, identity_provider_id: entra.id } }]);
    res = await admin("PUT", "/api/v1/dashboard/policy", { scim_group: { identity_provider_id: oidc.id, id: oidcGroup } });
    expect((await storedPolicy())!.include).toEqual([{ oidc: { claim_name: "groups", claim_value: "ops-admins", identity_provider_id: oidc.id } }]);
    // Another connection's group id is not found under this connection.
    res = await admin("PUT", "/api/v1/dashboard/policy", { scim_group: { identity_provider_id: oidc.id, id: entraGroup } });
    expect(res.status).toBe(404);
    res = await admin("PUT", "/api/v1/dashboard/policy", { emails: ["not-an-email"] });
    expect(res.status).toBe(400);
    res = await admin("PUT", "/api/v1/dashboard/policy", { emails: ["a@example.com"], scim_group: { identity_provider_id: oidc.id, id: oidcGroup } });
    expect(res.status).toBe(400);
    const got = await admin("GET", "/api/v1/dashboard/policy");
    expect(((await got.json()) as { result: { include: unknown[] } }).result.include).toEqual([{ oidc: { claim_name: "groups", claim_value: "ops-admins", identity_provider_id: oidc.id } }]);
  });

  it("the group picker shows at most 50 groups of a large connection and searches by prefix on the server", async () => {
    const conn = await createConnection({ type: "okta" });
    for (let i = 0; i < 60; i++) await group(conn, `team-${String(i).padStart(2, "0")}`);
    await group(conn, "zeta-admins");
    const res = await exports.default.fetch(`${ORIGIN}/dashboard/setup?idp=${conn.id}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const html = await res.text();
    const options = (s: string) => s.slice(s.indexOf('data-testid="setup-group"'), s.indexOf("</select>", s.indexOf('data-testid="setup-group"'))).match(/<option/g)?.length ?? 0;
    expect(options(html)).toBe(50);
    expect(html).toContain("Showing 50 of 61 groups");
    const searched = await (await exports.default.fetch(`${ORIGIN}/dashboard/setup?idp=${conn.id}&q=ZETA`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
    expect(options(searched)).toBe(1);
    expect(searched).toContain("zeta-admins");
  });

  it("an org session outside the policy gets 403; inside gets the page; deactivating the admin upstream shuts them out", async () => {
    world = await accessWorld();
    const ada = await provisionUser(world.conn, "ada@example.com");
    await provisionUser(world.conn, "eve@example.com");
    await group(world.conn, "admins", [ada.id]);
    expect((await admin("PUT", "/api/v1/dashboard/policy", { emails: ["ada@example.com"] })).status).toBe(200);

    const eve = await dashboardLogin(world, "eve@example.com");
    expect(eve.response.status).toBe(403);
    expect(await eve.response.text()).toContain("Access denied");

    world.browser.clear();
    const inside = await dashboardLogin(world, "ada@example.com", "/dashboard/tokens");
    expect(inside.response.status).toBe(200);
    expect(await inside.response.text()).toContain("ada@example.com");

    const off = await scim(world.conn, "PATCH", `/Users/${ada.id}`, { schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "replace", path: "active", value: false }] });
    expect(off.status).toBe(200);
    const after = await world.browser.get(`${ORIGIN}/dashboard/tokens`, { maxHops: 0 });
    expect(after.response.status).not.toBe(200);
  });

  it("before set-up, a signed-in person is sent to set-up, which still asks for the break-glass token", async () => {
    world = await accessWorld();
    await provisionUser(world.conn, "ada@example.com");
    const res = await dashboardLogin(world, "ada@example.com");
    expect(new URL(res.url).pathname).toBe("/dashboard/setup");
    expect(await res.response.text()).toContain('data-testid="setup-admin-token"');
  });
});

describe("dashboard: CSRF on every state-changing request", () => {
  async function signedIn() {
    world = await accessWorld();
    await provisionUser(world.conn, "ada@example.com");
    await admin("PUT", "/api/v1/dashboard/policy", { emails: ["ada@example.com"] });
    const page = await dashboardLogin(world, "ada@example.com", "/dashboard/tokens");
    expect(page.response.status).toBe(200);
    return csrfOf(await page.response.text());
  }

  it("missing, wrong, or another session's CSRF token, or a foreign Origin: 403 and nothing created; the right token: the handler still reads the form", async () => {
    const csrf = await signedIn();
    const b = world!.browser;
    const count = async () => (await env.DB.prepare("SELECT count(*) AS n FROM api_tokens").first<{ n: number }>())!.n;
    const before = await count();
    const form = (extra: Record<string, string>) => new URLSearchParams({ name: "from-form", scope: "read", ...extra });
    expect((await b.post(`${ORIGIN}/dashboard/tokens`, form({}))).response.status).toBe(403);
    expect((await b.post(`${ORIGIN}/dashboard/tokens`, form({ csrf: "0".repeat(64) }))).response.status).toBe(403);
    expect((await b.post(`${ORIGIN}/dashboard/tokens`, form({ csrf: "not-hex" }))).response.status).toBe(403);
    expect((await b.post(`${ORIGIN}/dashboard/tokens`, form({ csrf }), { headers: { origin: "https://evil.example" } })).response.status).toBe(403);
    expect((await b.post(`${ORIGIN}/dashboard/tokens`, form({ csrf }), { headers: { "sec-fetch-site": "cross-site" } })).response.status).toBe(403);
    // The break-glass token's CSRF token is not this session's.
    const bearerPage = await (await exports.default.fetch(`${ORIGIN}/dashboard/tokens`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
    expect((await b.post(`${ORIGIN}/dashboard/tokens`, form({ csrf: csrfOf(bearerPage) }))).response.status).toBe(403);
    expect(await count()).toBe(before);

    const ok = await b.post(`${ORIGIN}/dashboard/tokens`, form({ csrf }), { headers: { origin: ORIGIN } });
    expect(ok.response.status).toBe(200);
    const html = await ok.response.text();
    expect(html).toMatch(/data-testid="token-secret">zt_[A-Za-z0-9_-]{43}</);
    const made = await env.DB.prepare("SELECT name, scope, created_by FROM api_tokens WHERE name = 'from-form'").first<Record<string, string>>();
    expect(made).toMatchObject({ name: "from-form", scope: "read" });
    expect(made!.created_by).toMatch(/^dashboard:/);
  });

  it("API tokens on dashboard pages: a write token may change things (with CSRF), a read token only look, a bad token is 401", async () => {
    const mk = async (scope: string) => ((await (await admin("POST", "/api/v1/tokens", { name: scope, scope })).json()) as { result: { id: string; token: string } }).result;
    const write = await mk("write");
    const read = await mk("read");
    const get = (token: string) => exports.default.fetch(`${ORIGIN}/dashboard/tokens`, { headers: { authorization: `Bearer ${token}` } });
    const post = (token: string, body: URLSearchParams) =>
      exports.default.fetch(`${ORIGIN}/dashboard/tokens/${read.id}/revoke`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/x-www-form-urlencoded" }, body });

    const readPage = await get(read.token);
    expect(readPage.status).toBe(200);
    expect((await post(read.token, new URLSearchParams({ csrf: csrfOf(await readPage.text()) }))).status).toBe(403);
    expect((await get("zt_nope")).status).toBe(401);

    const writePage = await (await get(write.token)).text();
    expect((await post(write.token, new URLSearchParams({}))).status).toBe(403); // CSRF still required
    const revoked = await post(write.token, new URLSearchParams({ csrf: csrfOf(writePage) }));
    expect(revoked.status).toBe(200);
    const row = await env.DB.prepare("SELECT revoked_at FROM api_tokens WHERE id = ?").bind(read.id).first<{ revoked_at: string | null }>();
    expect(row!.revoked_at).not.toBeNull();
    const audit = await env.DB.prepare("SELECT actor FROM audit_log WHERE action = 'api_token.revoke' AND target_id = ?").bind(read.id).first<{ actor: string }>();
    expect(audit!.actor).toBe(`token:${write.id}`);
  });
});
