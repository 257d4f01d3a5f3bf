import { afterEach, describe, expect, it } from "vitest";
import { ORIGIN } from "../helpers";
import { env } from "cloudflare:workers";
import { sessionsFor } from "../../src/sessions/client";
import { Browser } from "../support/browser";
import { accessWorld, loginAs, provisionUser, scim, type AccessWorld } from "../support/access";

let world: AccessWorld;
afterEach(() => world?.restore());

describe("Access login: IdP → team host → app host → origin", () => {
  it("logs a provisioned user in and forwards to the origin with an assertion it verifies from /cdn-cgi/access/certs", async () => {
    world = await accessWorld();
    const user = await provisionUser(world.conn, "ada@example.com");
    const { response, hops } = await loginAs(world, "ada@example.com", "/wiki/page?x=1");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ path: "/wiki/page", email: "ada@example.com" });

    // The hops are Cloudflare's flow: app → team login → IdP → callback → app authorized → app.
    const paths = hops.map((h) => `${new URL(h.url).host}${new URL(h.url).pathname}`);
    expect(paths[0]).toBe(`${world.app.domain}/wiki/page`);
    expect(paths[1]).toBe(`edge.test/cdn-cgi/access/login/${world.app.domain}`);
    expect(paths[2]).toContain(world.idp.host);
    expect(paths[3]).toBe("edge.test/cdn-cgi/access/callback");
    expect(paths[4]).toBe(`${world.app.domain}/cdn-cgi/access/authorized`);
    expect(paths[5]).toBe(`${world.app.domain}/wiki/page`);
    // PKCE, state and nonce went to the IdP.
    expect(world.idp.lastAuthorization?.get("code_challenge_method")).toBe("S256");
    expect(world.idp.lastAuthorization?.get("state")).toBeTruthy();
    expect(world.idp.lastAuthorization?.get("nonce")).toBeTruthy();

    const hit = world.origin.hits.at(-1)!;
    expect(hit.error).toBeNull();
    expect(hit.claims).toMatchObject({ aud: [world.app.aud], email: "ada@example.com", sub: user.id, type: "app", iss: ORIGIN });
    for (const claim of ["iat", "nbf", "exp", "identity_nonce", "sid"]) expect(hit.claims).toHaveProperty(claim);

    // Cookies: the org session on the team host, the app session on the app host; both locked down.
    for (const host of ["edge.test", world.app.domain]) {
      const cookie = world.browser.cookie(host, "CF_Authorization");
      expect(cookie, host).toMatchObject({ httpOnly: true, secure: true, sameSite: "Lax" });
    }
    // The login-state cookie is gone once used.
    expect(world.browser.cookies("edge.test").filter((c) => c.name.startsWith("CF_AccessLogin_"))).toEqual([]);
  });

  it("a second request reuses the app cookie; a second app reuses the org session without the IdP", async () => {
    world = await accessWorld();
    await provisionUser(world.conn, "ada@example.com");
    await loginAs(world, "ada@example.com");
    const authorizeCalls = world.idp.requests.authorize;
    const again = await world.browser.get(`https://${world.app.domain}/again`);
    expect(again.response.status).toBe(200);
    expect(again.hops).toHaveLength(1);
    expect(world.idp.requests.authorize).toBe(authorizeCalls);
  });

  it("refuses a user the directory does not know, and an inactive one, with a clear page and no session", async () => {
    world = await accessWorld();
    const unknown = await loginAs(world, "nobody@example.com");
    expect(unknown.response.status).toBe(403);
    expect(await unknown.response.text()).toContain("not provisioned");
    expect(world.browser.cookie("edge.test", "CF_Authorization")).toBeUndefined();

    const user = await provisionUser(world.conn, "gone@example.com");
    const off = await scim(world.conn, "PATCH", `/Users/${user.id}`, { schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "replace", value: { active: false } }] });
    expect(off.status).toBe(200);
    const inactive = await loginAs(world, "gone@example.com");
    expect(inactive.response.status).toBe(403);
    expect(await inactive.response.text()).toContain("deactivated");
    expect(world.origin.hits).toHaveLength(0);
  });

  it("never matches by an email the IdP marks unverified (account takeover by a self-set email)", async () => {
    world = await accessWorld();
    await provisionUser(world.conn, "ceo@example.com");
    world.idp.nextLogin = { email: "ceo@example.com", claims: { email_verified: false, preferred_username: "mallory@example.com" } };
    const { response } = await world.browser.get(`https://${world.app.domain}/`);
    expect(response.status).toBe(403);
    expect(await response.text()).toContain("mallory@example.com");
    expect(world.origin.hits).toHaveLength(0);
  });

  it("Entra ID: matches by the UPN (preferred_username), not by the mutable email claim", async () => {
    world = await accessWorld({ kind: "entra" });
    const ada = await provisionUser(world.conn, "ada@example.com");
    await provisionUser(world.conn, "victim@example.com");
    world.idp.nextLogin = { email: "victim@example.com", claims: { preferred_username: "ada@example.com" } };
    const { response } = await world.browser.get(`https://${world.app.domain}/`);
    expect(response.status).toBe(200);
    expect(world.origin.hits.at(-1)!.claims).toMatchObject({ sub: ada.id, email: "ada@example.com" });
  });

  it("matches the IdP's email to the directory case-insensitively (userName or primary email)", async () => {
    world = await accessWorld();
    await provisionUser(world.conn, "Grace.Hopper@Example.com");
    const { response } = await loginAs(world, "grace.hopper@example.COM");
    expect(response.status).toBe(200);
  });

  it("concurrent logins of one user in many browsers all succeed, each with its own session", async () => {
    world = await accessWorld();
    const user = await provisionUser(world.conn, "ada@example.com");
    world.idp.nextLogin = { email: "ada@example.com" };
    const browsers = Array.from({ length: 12 }, () => new Browser({ external: { [world.idp.host]: world.idp.handle } }));
    const results = await Promise.all(browsers.map((b) => b.get(`https://${world.app.domain}/`)));
    expect(results.map((r) => r.response.status)).toEqual(results.map(() => 200));
    const sids = new Set(world.origin.hits.map((h) => h.claims?.sid));
    expect(sids.size).toBe(12);
    // 12 org sessions and 12 app sessions, all live in the user's object.
    expect(await sessionsFor(env, user.id).listSessions()).toHaveLength(24);
  });

  it("a policy deny is 403; XHR without a session gets 401, not a redirect", async () => {
    world = await accessWorld();
    await provisionUser(world.conn, "eve@elsewhere.org");
    const denied = await loginAs(world, "eve@elsewhere.org");
    expect(denied.response.status).toBe(403);
    expect(world.origin.hits).toHaveLength(0);

    const fresh = await world.browser.get(`https://${world.app.domain}/api`, { headers: { "x-requested-with": "XMLHttpRequest" }, maxHops: 0 });
    expect(fresh.response.status).toBe(401);
  });
});
