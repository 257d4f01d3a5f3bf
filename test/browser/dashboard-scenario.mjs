// The dashboard's browser scenario (issue 10, "Browser tests"), driven by scripts/browser-test.mjs in
// Debian's Chromium through playwright-core, against a fresh `wrangler dev`:
//
//   1. first-run set-up with the break-glass token (administrators: admin@example.com); create an
//      `oidc` connection in the connections page, its OIDC sign-in fields pointing at the development
//      IdP (the SCIM secret is read from the page, shown once);
//   2. push users and groups over SCIM from Node with that secret (ada in "risky", bob, admin), then
//      log in to the dashboard through the development IdP as admin@example.com;
//   3. build the seed's two policies in the UI by picking "risky" from the SCIM-group dropdown: the
//      Access app + policy (allow example.com emails, exclude "risky") and the Gateway DNS rule
//      (block example.com and its subdomains for "risky");
//   4. assert their effect: through the proxy (bob 200 from the echo origin, ada 403) and through the
//      resolver (ada's device gets 0.0.0.0, bob's the fake upstream's answer);
//   5. revoke bob's sessions from the users page: his next proxied request is sent to login (302).
//
// Screenshots of the main pages go to `shots(name)`. Under wrangler dev, /cdn-cgi/* only works on
// localhost and 127.0.0.1 (docs/access.md, "dev set-up"): the app lives on localhost:<port>, the
// team host (and the dashboard) on 127.0.0.1:<port>.

import { check, dohQuery, jsonRequest, UPSTREAM_IP } from "./lib.mjs";

const SCIM_JSON = "application/scim+json";
const USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group";
const tid = (id) => `[data-testid="${id}"]`;

/** Waits until the <select>'s group options (the placeholder aside) are exactly `labels`: the page script refilled it. */
async function waitForOptions(select, labels, timeout = 10_000) {
  const deadline = Date.now() + timeout;
  let seen = [];
  while (Date.now() < deadline) {
    seen = await select.evaluate((s) => [...s.options].filter((o) => o.value !== "").map((o) => o.textContent.trim()));
    if (JSON.stringify(seen) === JSON.stringify(labels)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  check(false, `the group dropdown offers ${JSON.stringify(seen)}, expected ${JSON.stringify(labels)}`);
}

/**
 * Runs the five steps. `run(name, fn)` is the step runner, `shot(page, name)` saves a screenshot,
 * `newContext()` opens a fresh browser context (own cookies), `log` reports progress.
 */
export async function runScenario({ baseUrl, adminToken, upstream, run, shot, newContext, log }) {
  const team = new URL(baseUrl);
  const appHost = `localhost:${team.port}`;
  const appUrl = `http://${appHost}`;
  const echoOrigin = `${baseUrl}/__dev/echo`;
  const adminApi = (path, init = {}) => jsonRequest(`${baseUrl}/api/v1${path}`, { ...init, headers: { authorization: `Bearer ${adminToken}`, ...(init.headers ?? {}) } });
  const dash = (path) => `${baseUrl}/dashboard${path}`;

  /** Navigates and checks the page answered 2xx (the dashboard's pages must render). */
  async function open(page, url, what) {
    const res = await page.goto(url);
    check(res && res.status() < 400, `${what ?? url}: HTTP ${res?.status()}: ${(await page.textContent("body").catch(() => ""))?.slice(0, 300)}`);
    return res;
  }

  /**
   * Logs in through the development IdP from the page's current sign-in page: picks `email`
   * (the IdP lists the connection's directory users as buttons) and waits for the redirects back.
   */
  async function signInAtDevIdp(page, email, { landsOn = (u) => !u.pathname.startsWith("/__dev/idp/") && !u.pathname.startsWith("/cdn-cgi/") } = {}) {
    await page.waitForURL((u) => u.pathname.startsWith("/__dev/idp/"), { timeout: 30_000 });
    await Promise.all([page.waitForURL(landsOn, { timeout: 30_000 }), page.locator(`button[name="email"][value="${email}"]`).click()]);
  }

  const state = {};

  // ---------------------------------------------------------------- 1
  await run("1. first-run set-up, and an IdP connection created in the dashboard", async () => {
    const ctx = await newContext();
    const page = await ctx.newPage();
    // Before set-up, a person with no session is offered the set-up page, which asks for the token.
    await open(page, dash("/setup"), "set-up page");
    await page.fill(tid("setup-admin-token"), "not-the-token");
    await page.click(tid("setup-unlock"));
    check((await page.textContent(tid("setup-error")))?.includes("not the break-glass token"), "a wrong break-glass token was not refused on the set-up page");
    await page.fill(tid("setup-admin-token"), adminToken);
    await page.click(tid("setup-unlock"));
    await page.waitForSelector(tid("setup-emails"));
    await shot(page, "01-setup");
    await page.fill(tid("setup-emails"), "admin@example.com");
    await page.click(tid("setup-save-emails"));
    const saved = await page.textContent(tid("setup-saved"));
    check(saved?.includes("admin@example.com"), `set-up did not save the email policy: ${saved}`);
    log(`set-up: ${saved.trim()}`);
    // Now the dashboard wants a login; with no connection yet nobody can log in, so the connection is
    // created in the dashboard with the break-glass token (the gate accepts it as a bearer header).
    const res = await page.goto(dash("/"));
    check(new URL(page.url()).pathname.startsWith("/cdn-cgi/access/login/") || (res?.status() ?? 0) >= 400, `after set-up, an anonymous /dashboard/ was not sent to login (${page.url()})`);
    await ctx.close();

    const glass = await newContext({ extraHTTPHeaders: { authorization: `Bearer ${adminToken}` } });
    const gp = await glass.newPage();
    await open(gp, dash("/connections"), "connections page");
    await gp.fill(tid("connection-name"), "Development IdP");
    await gp.selectOption(tid("connection-type"), "oidc");
    // The page script shows only the chosen type's own fields.
    check(!(await gp.isVisible(tid("oidc-fields-okta"))) && (await gp.isVisible(tid("oidc-fields-oidc"))), "choosing oidc did not hide the other types' fields");
    await gp.fill(tid("oidc-client_id"), "dev");
    await gp.fill(tid("oidc-client_secret"), "dev");
    await gp.fill(tid("oidc-issuer_url"), `${baseUrl}/__dev/idp`);
    await gp.click(tid("connection-create"));
    await gp.waitForSelector(tid("scim-secret-panel"));
    state.scimBase = (await gp.textContent(tid("scim-base-url"))).trim().replace(/\/+$/, "");
    state.scimSecret = (await gp.textContent(tid("scim-secret"))).trim();
    check(/^https?:\/\/.+\/populations\/[^/]+\/scim\/v2$/.test(state.scimBase), `SCIM base URL on the page: ${state.scimBase}`);
    check(state.scimSecret.length >= 32, "no SCIM secret shown on the page");
    state.idpId = /\/populations\/([^/]+)\/scim\/v2$/.exec(state.scimBase)[1];
    await shot(gp, "02-connection-created");
    // The connection's page shows the sign-in settings (discovery found the endpoints), never the secret.
    await gp.click(tid("connection-detail-link"));
    await gp.waitForSelector(tid("connection-oidc-form"));
    check((await gp.inputValue(tid("oidc-issuer_url"))) === `${baseUrl}/__dev/idp`, "the connection page does not show the issuer URL");
    check((await gp.inputValue(tid("oidc-client_secret"))) === "", "the client secret was rendered back");
    check((await gp.textContent(tid("oidc-secret-state")))?.includes("A secret is stored"), "the connection page does not say a client secret is stored");
    const { config } = (await adminApi(`/access/identity_providers/${encodeURIComponent(state.idpId)}`)).result;
    check(config.token_url?.startsWith(`${baseUrl}/__dev/idp`) && !("client_secret" in config), `stored OIDC config: ${JSON.stringify(config)}`);
    await shot(gp, "02b-connection-sign-in");
    await glass.close();
    log(`connection ${state.idpId}: SCIM ${state.scimBase} (secret read from the page, ${state.scimSecret.length} chars)`);
  });

  // ---------------------------------------------------------------- 2
  await run("2. users and groups pushed over SCIM; admin logs in through the development IdP", async () => {
    const scim = (path, body, method = "POST") =>
      jsonRequest(`${state.scimBase}${path}`, { method, headers: { authorization: `Bearer ${state.scimSecret}`, "content-type": SCIM_JSON }, body, expect: method === "POST" ? 201 : 200 });
    state.users = {};
    for (const [name, given] of [["ada", "Ada"], ["bob", "Bob"], ["admin", "Admin"]]) {
      const email = `${name}@example.com`;
      const u = await scim("/Users", { schemas: [USER_SCHEMA], userName: email, externalId: `ext-${name}`, active: true, name: { givenName: given, familyName: "Example" }, displayName: `${given} Example`, emails: [{ value: email, primary: true, type: "work" }] });
      state.users[name] = u.id;
    }
    const risky = await scim("/Groups", { schemas: [GROUP_SCHEMA], displayName: "risky", externalId: "ext-risky", members: [{ value: state.users.ada }] });
    await scim("/Groups", { schemas: [GROUP_SCHEMA], displayName: "engineering", externalId: "ext-engineering", members: [{ value: state.users.bob }, { value: state.users.admin }] });
    state.riskyId = risky.id;
    log(`SCIM: ada ${state.users.ada} (risky), bob ${state.users.bob}, admin ${state.users.admin}; groups risky, engineering`);

    state.admin = await newContext();
    const page = (state.page = await state.admin.newPage());
    await page.goto(dash("/"));
    await signInAtDevIdp(page, "admin@example.com");
    check(new URL(page.url()).pathname === "/dashboard/", `after the admin's login the browser is at ${page.url()}, expected /dashboard/`);
    const who = await page.textContent("header");
    check(who?.includes("admin@example.com"), `the dashboard does not show the signed-in admin: ${who}`);
    await shot(page, "03-overview");
    await open(page, dash("/connections"));
    check((await page.locator(tid("connection-link")).count()) === 1, "the connections page does not list the connection");
    await shot(page, "04-connections");
    await open(page, dash(`/connections/${state.idpId}`));
    await shot(page, "05-connection-detail");
  });

  // ---------------------------------------------------------------- 3
  await run('3. the Access app + policy and the Gateway rule, built in the UI by picking "risky"', async () => {
    const page = state.page;
    // Directory pages first (they show what SCIM pushed).
    await open(page, dash("/users"));
    check((await page.locator(tid("user-row")).count()) === 3, `users page lists ${await page.locator(tid("user-row")).count()} users, expected 3`);
    await shot(page, "06-users");
    await open(page, dash("/groups"));
    check((await page.textContent(tid("groups-table")))?.includes("risky"), "groups page does not list risky");
    await shot(page, "07-groups");
    await page.locator(tid("group-link"), { hasText: "risky" }).click();
    await page.waitForSelector(tid("members-table"));
    check((await page.textContent(tid("members-table")))?.includes("ada@example.com"), "risky's members do not list ada");
    await shot(page, "08-group-members");
    await open(page, dash("/logs/scim"));
    check((await page.locator(tid("log-row")).count()) >= 5, "the provisioning log shows fewer than 5 SCIM requests");
    await shot(page, "09-provisioning-log");

    // The Access application on localhost:<port>, its origin the development echo origin.
    await open(page, dash("/access/apps"));
    await page.fill(tid("app-name"), "Echo");
    await page.fill(tid("app-domain"), appHost);
    await page.fill(tid("app-origin"), echoOrigin);
    await page.click(tid("app-save"));
    await page.waitForSelector(tid("policies-table"));
    state.appId = /\/access\/apps\/([^/?]+)/.exec(page.url())?.[1];
    check(state.appId, `no app id in ${page.url()}`);
    await page.click(tid("add-policy"));
    const form = page.locator(tid("policy-form"));
    await form.waitFor();
    await page.fill(tid("policy-name"), "example.com, except risky");
    await page.fill(tid("rule-include-0-value"), "example.com");
    await page.click(tid("add-exclude-group"));
    // The SCIM-group dropdown of the exclude row: type, the page script asks the server, pick "risky".
    const picker = page.locator(tid("section-exclude"));
    await picker.locator(tid("group-search")).waitFor();
    check((await picker.locator(tid("group-idp")).inputValue()) === state.idpId, "the exclude row's picker is not on the connection");
    // Before typing, the dropdown offers the connection's first groups (risky and engineering).
    check((await picker.locator(`${tid("group-select")} option`, { hasText: "engineering" }).count()) === 1, "the dropdown does not offer engineering before a search");
    await Promise.all([page.waitForResponse((r) => r.url().includes("/dashboard/access/scim-groups?") && r.url().includes("search=ri")), picker.locator(tid("group-search")).fill("ri")]);
    await waitForOptions(picker.locator(tid("group-select")), ["risky"]);
    await picker.locator(tid("group-select")).selectOption({ label: "risky" });
    // A native <select> pops up outside the page (not in screenshots): show it expanded for the shot.
    await picker.locator(tid("group-select")).evaluate((s) => (s.size = Math.max(2, s.options.length)));
    await shot(page, "10-access-policy-builder-dropdown");
    await picker.locator(tid("group-select")).evaluate((s) => (s.size = 0));
    await page.click(tid("policy-save"));
    const notice = await page.textContent(tid("notice"));
    check(notice?.includes("saved"), `policy not saved: ${notice ?? (await page.textContent("main"))?.slice(0, 400)}`);
    const policies = await adminApi(`/access/apps/${state.appId}/policies`);
    const p = policies.result[0];
    check(policies.result.length === 1 && p.decision === "allow", `policies via the API: ${JSON.stringify(policies.result)}`);
    check(JSON.stringify(p.include) === JSON.stringify([{ email_domain: { domain: "example.com" } }]), `include: ${JSON.stringify(p.include)}`);
    check(p.exclude.length === 1 && JSON.stringify(p.exclude[0]).includes('"risky"') && JSON.stringify(p.exclude[0]).includes(state.idpId), `exclude: ${JSON.stringify(p.exclude)}`);
    log(`Access app ${state.appId} on ${appHost}: include ${JSON.stringify(p.include)} exclude ${JSON.stringify(p.exclude)}`);
    await shot(page, "11-access-app");

    // The Gateway DNS rule: example.com and its subdomains, for "risky".
    await open(page, dash("/gateway/rules/new"));
    await page.fill(tid("rule-name"), "Block example.com for risky");
    await page.fill(tid("rule-domains"), "example.com");
    await page.check(tid("rule-subdomains"));
    const gpick = page.locator(tid("group-picker-pick"));
    await gpick.locator(tid("group-search")).fill("risk");
    await waitForOptions(gpick.locator(tid("group-select")), ["risky"]);
    await gpick.locator(tid("group-select")).selectOption({ label: "risky" });
    await page.click(tid("rule-add-group"));
    await page.waitForSelector(`${tid("rule-groups")} code`);
    const traffic = (await page.textContent(tid("traffic-preview")))?.trim();
    const identity = (await page.textContent(tid("identity-preview")))?.trim();
    check(traffic === 'any(dns.domains[*] in {"example.com"})', `traffic preview: ${traffic}`);
    check(identity === 'any(identity.groups.name[*] in {"risky"})', `identity preview: ${identity}`);
    await shot(page, "12-gateway-rule-builder");
    await page.click(tid("rule-save"));
    await page.waitForSelector(tid("rules-table"));
    check((await page.textContent(tid("rules-table")))?.includes("Block example.com for risky"), "the rules page does not list the new rule");
    await shot(page, "13-gateway-rules");
    log(`Gateway rule: traffic ${traffic}; identity ${identity}`);
  });

  // ---------------------------------------------------------------- 4
  await run("4. their effect: through the proxy (bob 200, ada 403) and the resolver (ada blocked, bob resolved)", async () => {
    // Proxy: a browser context per person, logging in to the app through the development IdP.
    state.bob = await newContext();
    const bob = await state.bob.newPage();
    await bob.goto(`${appUrl}/hello?x=1`);
    check(new URL(bob.url()).host === team.host, `the app without a session did not send bob to the team host (${bob.url()})`);
    await signInAtDevIdp(bob, "bob@example.com");
    check(new URL(bob.url()).host === appHost, `bob ended at ${bob.url()}, expected the app`);
    const echo = JSON.parse(await bob.textContent("body"));
    check(echo.path === "/__dev/echo/hello" && echo.headers["cf-access-authenticated-user-email"] === "bob@example.com", `echo origin saw ${JSON.stringify(echo).slice(0, 300)}`);
    const again = await state.bob.request.get(`${appUrl}/again`, { maxRedirects: 0 });
    check(again.status() === 200, `bob's next proxied request → ${again.status()}`);
    log(`bob → 200 from the echo origin (${echo.path}, cf-access-authenticated-user-email ${echo.headers["cf-access-authenticated-user-email"]})`);

    const adaCtx = await newContext();
    const ada = await adaCtx.newPage();
    let adaStatus = 0;
    ada.on("response", (r) => {
      if (r.request().isNavigationRequest() && r.request().frame() === ada.mainFrame()) adaStatus = r.status();
    });
    await ada.goto(`${appUrl}/hello`);
    // Refused at the callback: the login ends there with the 403 page.
    await signInAtDevIdp(ada, "ada@example.com", { landsOn: (u) => u.pathname === "/cdn-cgi/access/callback" });
    check(adaStatus === 403, `ada (in "risky") got ${adaStatus} at ${ada.url()}, expected 403`);
    const adaApp = await adaCtx.request.get(`${appUrl}/hello`, { maxRedirects: 0 });
    check(adaApp.status() === 302, `ada has no app session, yet the app answered ${adaApp.status()}`);
    await shot(ada, "14-proxy-ada-denied");
    await adaCtx.close();
    log("ada → 403 (excluded: risky); she holds no app session");

    // Resolver: a device per person (admin API), DoH from Node.
    const devices = {};
    for (const who of ["ada", "bob"]) {
      const d = await adminApi("/gateway/devices", { method: "POST", body: { user_id: state.users[who], name: `${who}'s laptop` } });
      devices[who] = d.result.doh_url.startsWith("http") ? d.result.doh_url : `${baseUrl}${d.result.doh_url}`;
    }
    const results = [];
    for (const who of ["ada", "bob"]) {
      for (const name of ["example.com", "a.b.example.com"]) {
        const before = upstream.asked.length;
        const r = await dohQuery(devices[who], name);
        const askedUpstream = upstream.asked.slice(before).includes(name);
        results.push(`${who} ${name} → ${r.a}${askedUpstream ? " (upstream)" : ""}`);
        check(r.status === 200 && r.rcode === 0, `${who}: DoH ${name} → HTTP ${r.status} rcode ${r.rcode} ${r.text ?? ""}`);
        if (who === "ada") check(r.a === "0.0.0.0" && !askedUpstream, `ada (risky): ${name} → ${r.a}, expected 0.0.0.0 without asking the upstream`);
        else check(r.a === UPSTREAM_IP, `bob: ${name} → ${r.a}, expected ${UPSTREAM_IP} from the upstream`);
      }
    }
    log(`DoH: ${results.join("; ")}`);

    const page = state.page;
    await open(page, dash("/gateway/devices"));
    check((await page.locator(`${tid("devices-table")} tbody tr`).count()) >= 2, "the devices page lists fewer than 2 devices");
    await shot(page, "15-devices");
    // The DNS activity log is written under waitUntil: give it a moment.
    for (let i = 0; i < 20; i++) {
      await open(page, dash("/gateway/logs"));
      if ((await page.locator(`${tid("dns-log-table")} tbody tr`).count()) >= 4) break;
      await page.waitForTimeout(250);
    }
    check((await page.locator(`${tid("dns-log-table")} tbody tr`).count()) >= 4, "the DNS log shows fewer than 4 queries");
    // Entries name the user and the device, not only their ids.
    const named = await page.locator(tid("dns-log-user")).allTextContents();
    check(named.some((t) => t.startsWith("ada@example.com")) && named.some((t) => t.startsWith("bob@example.com")), `the DNS log does not name ada and bob: ${JSON.stringify(named.slice(0, 4))}`);
    check((await page.locator(tid("dns-log-device")).count()) >= 4, "the DNS log does not name the devices");
    await shot(page, "16-dns-log");
  });

  // ---------------------------------------------------------------- 5
  await run("5. bob's sessions revoked from the users page; his next proxied request is refused", async () => {
    const page = state.page;
    await open(page, dash("/users"));
    await page.fill(tid("user-search"), "bob");
    await page.click(tid("user-search-submit"));
    await page.locator(tid("user-link"), { hasText: "bob@example.com" }).click();
    await page.waitForSelector(tid("user-sessions"));
    const sessions = await page.locator(tid("session-row")).count();
    check(sessions >= 1, "bob's user page shows no active session");
    await shot(page, "17-user-detail");
    await page.click(tid("revoke-all-sessions"));
    const revoked = await page.textContent(tid("revoked"));
    check(/Revoked [1-9]\d* session/.test(revoked ?? ""), `revoke notice: ${revoked}`);
    log(`users page: ${revoked.trim()} (${sessions} listed before)`);
    const next = await state.bob.request.get(`${appUrl}/after-revoke`, { maxRedirects: 0 });
    const location = next.headers().location ?? "";
    check(next.status() === 302 && location.startsWith(`${baseUrl}/cdn-cgi/access/login/`), `bob's next proxied request after revocation → ${next.status()} ${location}, expected 302 to login`);
    log(`bob's next proxied request → 302 ${location.slice(0, 90)}…`);
    await shot(page, "18-user-revoked");

    // The remaining pages, for the artifacts.
    await open(page, dash("/drift"));
    await shot(page, "19-drift");
    await open(page, dash("/tokens"));
    await page.fill(tid("token-name"), "ci read-only");
    await page.selectOption(tid("token-scope"), "read");
    await page.click(tid("token-create"));
    check(((await page.textContent(tid("token-secret"))) ?? "").trim().length > 20, "the new API token is not shown");
    await shot(page, "20-tokens");
    await open(page, dash(`/access/apps/${state.appId}/simulate`));
    await page.fill(tid("simulate-who"), "ada@example.com");
    await page.click(tid("simulate-run"));
    const decision = await page.textContent(tid("sim-decision"));
    check(!/^\s*allow/i.test(decision ?? "allow"), `the simulator lets ada (in "risky") in: ${decision}`);
    log(`simulator, ada@example.com: ${decision?.trim()}`);
    await shot(page, "21-policy-simulator");
  });
}
