// The dashboard's Access and Gateway policy builders, driven through their forms (break-glass token +
// the CSRF token of the rendered form), with "risky" picked from the SCIM-group dropdown's server
// search: the seed's two example policies are stored exactly as the API would store them, and work
// (an Access login through the proxy; a DoH query from a device, with a fake upstream).
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { app } from "../../src/app";
import { parseMessage } from "../../src/gateway/dns/codec";
import { clearAnswerCache } from "../../src/gateway/upstream";
import { invalidateRuleSet } from "../../src/gateway/rules-store";
import { admin, createConnection, ORIGIN, provisionUser, scim, type TestConnection } from "../helpers";
import { accessWorld, loginAs, type AccessWorld } from "../support/access";
import { Browser } from "../support/browser";
import { routeFetch } from "../support/fetch-router";
import { a, base64Url, dnsQuery, dnsResponse } from "../support/dns";

const GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group";
const AUTH = { authorization: "Bearer test-admin-token" };

/** GET a dashboard page with the break-glass token. */
function page(path: string): Promise<Response> {
  return exports.default.fetch(`${ORIGIN}${path}`, { headers: AUTH, redirect: "manual" });
}

/** POST a dashboard form (urlencoded), as a browser submits it. */
function submit(path: string, fields: [string, string][]): Promise<Response> {
  return exports.default.fetch(`${ORIGIN}${path}`, {
    method: "POST",
    headers: { ...AUTH, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(fields).toString(),
    redirect: "manual",
  });
}

/** The CSRF token of a rendered form. */
async function csrfOf(res: Response): Promise<{ csrf: string; html: string }> {
  expect(res.status).toBe(200);
  const html = await res.text();
  const m = /name="csrf" value="([0-9a-f]+)"/.exec(html);
  if (!m) throw new Error("no CSRF field in the page");
  return { csrf: m[1]!, html };
}

/** The dropdown's server search (the page script's JSON route). */
async function pickerSearch(idp: string, search: string): Promise<{ id: string; display_name: string }[]> {
  const res = await page(`/dashboard/access/scim-groups?idp=${idp}&search=${encodeURIComponent(search)}`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { result: { id: string; display_name: string }[] }).result;
}

/** The <option>s of a rendered group select: [value, label]. */
function options(html: string, selectName: string): [string, string][] {
  const select = new RegExp(`<select name="${selectName.replace(/\./g, "\\.")}"[^>]*>([\\s\\S]*?)</select>`).exec(html)?.[1] ?? "";
  return [...select.matchAll(/<option value="([^"]*)"[^>]*>([^<]*)<\/option>/g)].map((m) => [m[1]!, m[2]!]);
}

const strip = <T extends Record<string, unknown>>(p: T) => (({ id: _i, created_at: _c, updated_at: _u, ...rest }) => rest)(p);

describe("the SCIM-group dropdown", () => {
  it("searches on the server by case-insensitive prefix, at most 20 at a time, among 500 groups", async () => {
    const conn = await createConnection({ type: "azureAD" });
    const other = await createConnection({ type: "azureAD" });
    const now = new Date().toISOString();
    const names = [...Array.from({ length: 497 }, (_, i) => `grp-${String(i).padStart(3, "0")}`), "risky", "Risk-Team", "frisky"];
    const stmt = env.DB.prepare("INSERT INTO groups (id, idp_id, external_id, display_name, display_name_lower, resource, created_at, updated_at) VALUES (?, ?, ?, ?, ?, '{}', ?, ?)");
    await env.DB.batch(names.map((n) => stmt.bind(crypto.randomUUID(), conn.id, crypto.randomUUID(), n, n.toLowerCase(), now, now)));
    await env.DB.prepare("INSERT INTO groups (id, idp_id, external_id, display_name, display_name_lower, resource, created_at, updated_at) VALUES (?, ?, NULL, 'risky-elsewhere', 'risky-elsewhere', '{}', ?, ?)").bind(crypto.randomUUID(), other.id, now, now).run();

    const all = await pickerSearch(conn.id, "");
    expect(all).toHaveLength(20);
    const grp1 = await pickerSearch(conn.id, "GRP-1");
    expect(grp1).toHaveLength(20);
    expect(grp1.every((g) => g.display_name.startsWith("grp-1"))).toBe(true);
    expect((await pickerSearch(conn.id, "ris")).map((g) => g.display_name)).toEqual(["Risk-Team", "risky"]); // not "frisky", not another connection's
    expect(await pickerSearch(conn.id, "zzz")).toEqual([]);

    // The scripts' route: the same search with the admin API's paging.
    const api = await admin("GET", `/api/v1/access/identity_providers/${conn.id}/scim/groups?search=grp-1&per_page=20`);
    const body = (await api.json()) as { result: { display_name: string }[]; result_info: { total_count: number } };
    expect(body.result).toHaveLength(20);
    expect(body.result_info.total_count).toBe(100);
    expect(body.result.every((g) => g.display_name.startsWith("grp-1"))).toBe(true);
  });

  it("without JavaScript, Find re-renders the form with the first matches as a select", async () => {
    const world = await accessWorld({ kind: "entra", policies: [] });
    try {
      await scim(world.conn, "POST", "/Groups", { schemas: [GROUP], displayName: "risky", externalId: crypto.randomUUID() });
      const { csrf } = await csrfOf(await page(`/dashboard/access/apps/${world.app.id}/policies/new`));
      const res = await submit(`/dashboard/access/apps/${world.app.id}/policies/new`, [
        ["csrf", csrf],
        ["name", "x"],
        ["decision", "allow"],
        ["include.0.kind", "group"],
        ["include.0.idp", world.conn.id],
        ["include.0.q", "RIS"],
        ["action", "find:include.0"],
      ]);
      expect(res.status).toBe(200);
      expect(options(await res.text(), "include.0.group").map(([, label]) => label)).toEqual(["— pick a group —", "risky"]);
    } finally {
      world.restore();
    }
  });
});

describe("the Access policy builder", () => {
  let world: AccessWorld;
  afterEach(() => world?.restore());

  it("builds the seed policy (allow example.com, exclude risky picked from the dropdown) as the API stores it, and it works through the proxy", async () => {
    world = await accessWorld({ kind: "entra", policies: [] });
    const externalId = crypto.randomUUID().toUpperCase(); // an Entra object id: the admin never types it
    const ada = await provisionUser(world.conn, "ada@example.com");
    await provisionUser(world.conn, "bob@example.com");
    const g = await scim(world.conn, "POST", "/Groups", { schemas: [GROUP], displayName: "risky", externalId, members: [{ value: ada.id }] });
    expect(g.status).toBe(201);

    const path = `/dashboard/access/apps/${world.app.id}/policies/new`;
    const { csrf, html } = await csrfOf(await page(path));
    expect(html).toContain('data-testid="policy-form"');
    const base: [string, string][] = [["csrf", csrf], ["name", "staff but not risky"], ["decision", "allow"], ["include.0.kind", "email_domain"], ["include.0.value", "example.com"]];
    // Add an exclude row of kind "SCIM group" (server-side row action).
    const added = await submit(path, [...base, ["action", "add:exclude:group"]]);
    expect(added.status).toBe(200);
    expect(await added.text()).toContain('name="exclude.0.group"');
    // Pick "risky" from the server search's results.
    const risky = (await pickerSearch(world.conn.id, "ris")).find((x) => x.display_name === "risky");
    expect(risky).toBeDefined();
    const picked: [string, string][] = [...base, ["exclude.0.kind", "group"], ["exclude.0.idp", world.conn.id], ["exclude.0.q", "ris"], ["exclude.0.group", risky!.id]];

    // A group row without a group is a form error, not a saved policy.
    const missing = await submit(path, [...base, ["exclude.0.kind", "group"], ["exclude.0.idp", world.conn.id], ["action", "save"]]);
    expect(missing.status).toBe(400);
    expect(await missing.text()).toContain("exclude[0]: pick a SCIM group");

    const saved = await submit(path, [...picked, ["action", "save"]]);
    expect(saved.status).toBe(303);
    const stored = ((await (await admin("GET", `/api/v1/access/apps/${world.app.id}/policies`)).json()) as { result: Record<string, unknown>[] }).result;
    expect(stored).toHaveLength(1);
    const expected = {
      name: "staff but not risky",
      decision: "allow",
      include: [{ email_domain: { domain: "example.com" } }],
      exclude: [{ azureAD: { id: externalId, identity_provider_id: world.conn.id } }],
      require: [],
    };
    expect(strip(stored[0]!)).toEqual({ ...expected, precedence: 1, session_duration: null });
    // What the API stores for the same policy, on a twin app.
    const twin = (await (await admin("POST", "/api/v1/access/apps", { name: "twin", domain: `twin-${crypto.randomUUID().slice(0, 6)}.example.test`, origin: "https://origin.test" })).json()) as { result: { id: string } };
    const viaApi = (await (await admin("POST", `/api/v1/access/apps/${twin.result.id}/policies`, expected)).json()) as { result: Record<string, unknown> };
    expect(strip(stored[0]!)).toEqual(strip(viaApi.result));

    // Its effect: bob gets in, ada (in risky) does not.
    expect((await loginAs(world, "bob@example.com")).response.status).toBe(200);
    world.browser = new Browser({ external: { [world.idp.host]: world.idp.handle } });
    expect((await loginAs(world, "ada@example.com")).response.status).toBe(403);

    // The simulator page says why.
    const sim = await csrfOf(await page(`/dashboard/access/apps/${world.app.id}/simulate`));
    const simRes = await submit(`/dashboard/access/apps/${world.app.id}/simulate`, [["csrf", sim.csrf], ["who", "ada@example.com"]]);
    const simHtml = await simRes.text();
    expect(simHtml).toMatch(/data-testid="sim-decision"><strong>default_deny<\/strong>/);
    expect(simHtml).toContain(`excluded by azureAD group ${externalId}`);

    // Re-opening the policy shows "risky" picked in the dropdown.
    const policyId = stored[0]!.id as string;
    const reopened = await page(`/dashboard/access/apps/${world.app.id}/policies/${policyId}`);
    expect(options(await reopened.text(), "exclude.0.group")).toContainEqual([risky!.id, "risky"]);
  });

  it("shows the service's save-time refusal on the form (a precedence clash), and saves an Okta group by name", async () => {
    world = await accessWorld({ kind: "okta", policies: [] });
    const g = await scim(world.conn, "POST", "/Groups", { schemas: [GROUP], displayName: "risky" });
    const groupId = ((await g.json()) as { id: string }).id;
    const path = `/dashboard/access/apps/${world.app.id}/policies/new`;
    const { csrf } = await csrfOf(await page(path));
    const fields: [string, string][] = [["csrf", csrf], ["name", "p"], ["decision", "allow"], ["include.0.kind", "everyone"], ["exclude.0.kind", "group"], ["exclude.0.idp", world.conn.id], ["exclude.0.group", groupId], ["action", "save"]];
    // Precedence clash: refused by the service with a 409 message naming the other policy.
    await admin("POST", `/api/v1/access/apps/${world.app.id}/policies`, { name: "first", decision: "allow", include: [{ everyone: {} }], precedence: 1 });
    const clash = await submit(path, [...fields, ["precedence", "1"]]);
    expect(clash.status).toBe(400);
    expect(await clash.text()).toContain("precedence: 1 is already used by policy &quot;first&quot;");
    expect(((await (await admin("GET", `/api/v1/access/apps/${world.app.id}/policies`)).json()) as { result: unknown[] }).result).toHaveLength(1);
    // Saved without precedence: goes last, stored as an okta rule by name.
    expect((await submit(path, fields)).status).toBe(303);
    const stored = ((await (await admin("GET", `/api/v1/access/apps/${world.app.id}/policies`)).json()) as { result: { exclude: unknown[]; precedence: number }[] }).result;
    expect(stored[1]).toMatchObject({ precedence: 2, exclude: [{ okta: { name: "risky", identity_provider_id: world.conn.id } }] });
  });

  it("refuses a form without the CSRF token", async () => {
    world = await accessWorld({ policies: [] });
    const res = await submit(`/dashboard/access/apps/${world.app.id}/policies/new`, [["name", "p"], ["action", "save"]]);
    expect(res.status).toBe(403);
  });
});

describe("the Gateway rule builder", () => {
  const UPSTREAM = "https://upstream.test/dns-query";
  let restore: (() => void) | null = null;
  afterEach(() => restore?.());

  async function doh(token: string, qname: string): Promise<string[]> {
    const ctx = createExecutionContext();
    const res = await app.fetch(new Request(`${ORIGIN}/dns-query/${token}?dns=${base64Url(dnsQuery(qname))}`, { headers: { accept: "application/dns-message" } }), { ...env, GATEWAY_UPSTREAM: UPSTREAM } as Env, ctx);
    await waitOnExecutionContext(ctx);
    expect(res.status).toBe(200);
    const bytes = new Uint8Array(await res.arrayBuffer());
    const m = parseMessage(bytes);
    if (!m.ok) throw new Error(m.error);
    return m.value.records.filter((r) => r.section === "answer" && r.rdlength === 4).map((r) => [...bytes.slice(r.rdataOffset, r.rdataOffset + 4)].join("."));
  }

  async function device(userId: string): Promise<{ id: string; token: string }> {
    const res = await admin("POST", "/api/v1/gateway/devices", { user_id: userId, name: "laptop" });
    expect(res.status).toBe(200);
    return ((await res.json()) as { result: { id: string; token: string } }).result;
  }

  it("builds the seed rule (block example.com and subdomains for risky), shows its expression, stores it as the API does, and the resolver applies it", async () => {
    restore = routeFetch({
      "upstream.test": async (req) => {
        const m = parseMessage(new Uint8Array(await req.arrayBuffer()));
        if (!m.ok) return new Response("bad", { status: 400 });
        const q = m.value.questions[0]!;
        return new Response(dnsResponse({ id: m.value.header.id, qname: q.name, answers: [a(q.name, "192.0.2.7")] }), { headers: { "content-type": "application/dns-message" } });
      },
    });
    clearAnswerCache();
    for (const r of ((await (await admin("GET", "/api/v1/gateway/rules")).json()) as { result: { id: string }[] }).result) await admin("DELETE", `/api/v1/gateway/rules/${r.id}`);
    invalidateRuleSet();
    const conn: TestConnection = await createConnection({ type: "okta", scim_config: { identity_update_behavior: "automatic" } });
    const ada = await provisionUser(conn);
    const bob = await provisionUser(conn);
    expect((await scim(conn, "POST", "/Groups", { schemas: [GROUP], displayName: "risky", members: [{ value: ada.id }] })).status).toBe(201);

    const path = "/dashboard/gateway/rules/new";
    const { csrf } = await csrfOf(await page(path));
    const base: [string, string][] = [["csrf", csrf], ["name", "block example.com for risky"], ["filter", "dns"], ["action_kind", "block"], ["enabled", "on"], ["mode", "builder"], ["domains", "Example.com\n"], ["subdomains", "on"]];
    const risky = (await pickerSearch(conn.id, "risk")).find((x) => x.display_name === "risky")!;
    const added = await submit(path, [...base, ["pick.idp", conn.id], ["pick.q", "risk"], ["pick.group", risky.id], ["action", "addgroup"]]);
    expect(added.status).toBe(200);
    const preview = await added.text();
    expect(preview).toContain('<code data-testid="traffic-preview">any(dns.domains[*] in {&quot;example.com&quot;})</code>');
    expect(preview).toContain('<code data-testid="identity-preview">any(identity.groups.name[*] in {&quot;risky&quot;})</code>');
    expect(preview).toContain('<input type="hidden" name="groups" value="risky"');

    const saved = await submit(path, [...base, ["groups", "risky"], ["action", "save"]]);
    expect(saved.status).toBe(303);
    const rules = ((await (await admin("GET", "/api/v1/gateway/rules")).json()) as { result: Record<string, unknown>[] }).result;
    expect(rules).toHaveLength(1);
    const expected = { name: "block example.com for risky", action: "block", enabled: true, filters: ["dns"], traffic: 'any(dns.domains[*] in {"example.com"})', identity: 'any(identity.groups.name[*] in {"risky"})', rule_settings: {} };
    expect(strip(rules[0]!)).toEqual({ ...expected, precedence: 1 });
    // What the API stores for the same body (then removed again, so it does not shadow the dashboard's rule).
    const viaApi = (await (await admin("POST", "/api/v1/gateway/rules", { ...expected, precedence: 50 })).json()) as { result: Record<string, unknown> };
    expect(strip(viaApi.result)).toEqual({ ...strip(rules[0]!), precedence: 50 });
    await admin("DELETE", `/api/v1/gateway/rules/${viaApi.result.id as string}`);
    invalidateRuleSet();

    const [adaDev, bobDev] = [await device(ada.id), await device(bob.id)];
    expect(await doh(adaDev.token, "example.com")).toEqual(["0.0.0.0"]);
    expect(await doh(adaDev.token, "a.b.example.com")).toEqual(["0.0.0.0"]);
    expect(await doh(adaDev.token, "notexample.com")).toEqual(["192.0.2.7"]);
    expect(await doh(bobDev.token, "example.com")).toEqual(["192.0.2.7"]);

    // Re-opening the rule shows it in the builder (not advanced), with its domains and group.
    const reopened = await (await page(`/dashboard/gateway/rules/${rules[0]!.id as string}`)).text();
    expect(reopened).toContain('data-testid="builder"');
    expect(reopened).toContain('<input type="hidden" name="groups" value="risky"');
  });

  it("advanced mode: a typed expression is checked by the same parser, with its position", async () => {
    const path = "/dashboard/gateway/rules/new";
    const { csrf } = await csrfOf(await page(path));
    const fields: [string, string][] = [["csrf", csrf], ["name", "bad"], ["filter", "dns"], ["action_kind", "block"], ["mode", "advanced"], ["traffic", 'any(dns.domains[*] matches "x")'], ["identity", ""]];
    const preview = await (await submit(path, [...fields, ["action", "preview"]])).text();
    expect(preview).toMatch(/traffic: [^<]*matches[^<]* at position 19/);
    const save = await submit(path, [...fields, ["action", "save"]]);
    expect(save.status).toBe(400);
    expect(await save.text()).toMatch(/traffic: [^<]* at 19: matches/);
    const unknownGroup = await submit(path, [["csrf", csrf], ["name", "g"], ["filter", "dns"], ["action_kind", "block"], ["mode", "advanced"], ["traffic", ""], ["identity", 'any(identity.groups.name[*] in {"nobody-has-this"})'], ["action", "save"]]);
    expect(unknownGroup.status).toBe(400);
    expect(await unknownGroup.text()).toContain("no SCIM connection has a group named &quot;nobody-has-this&quot;");
  });

  it("lists a user's devices and revokes one", async () => {
    const conn = await createConnection();
    const user = await provisionUser(conn);
    const dev = await device(user.id);
    const list = await csrfOf(await page(`/dashboard/gateway/devices?user=${encodeURIComponent(user.userName)}`));
    expect(list.html).toContain(`data-testid="device-${dev.id}"`);
    const revoked = await submit(`/dashboard/gateway/devices/${dev.id}/revoke`, [["csrf", list.csrf]]);
    expect(revoked.status).toBe(303);
    const after = (await (await admin("GET", `/api/v1/gateway/devices/${dev.id}`)).json()) as { result: { revoked_at: string | null } };
    expect(after.result.revoked_at).not.toBeNull();
    const log = await page("/dashboard/gateway/logs?decision=blocked&since=2020-01-01T00:00");
    expect(log.status).toBe(200);
    expect((await page("/dashboard/gateway/logs?since=yesterday")).status).toBe(400);
  });
});
