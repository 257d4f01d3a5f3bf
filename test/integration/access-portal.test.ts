import { exports } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { ORIGIN } from "../helpers";
import { accessWorld, provisionUser, scim, type AccessWorld } from "../support/access";

let world: AccessWorld;
afterEach(() => world?.restore());

/** Logs the browser into the team host's portal through the IdP and returns the portal page. */
async function portalLogin(email: string) {
  world = await accessWorld();
  const user = await provisionUser(world.conn, email);
  world.idp.nextLogin = { email };
  // Every connection of the account may sign in to the portal: earlier tests' connections make a chooser, so pick ours.
  const res = await world.browser.get(`${ORIGIN}/cdn-cgi/access/login/edge.test?redirect_url=${encodeURIComponent(`${ORIGIN}/portal/`)}&idp=${world.conn.id}`);
  return { user, res };
}

const csrfOf = (html: string) => /name="csrf" value="([0-9a-f]{64})"/.exec(html)?.[1] ?? "";

describe("self-service portal (team host, behind Access login)", () => {
  it("without an org session, the portal sends the browser to log in and back", async () => {
    world = await accessWorld();
    const res = await exports.default.fetch(`${ORIGIN}/portal/`, { redirect: "manual" });
    expect(res.status).toBe(302);
    const login = new URL(res.headers.get("location")!);
    expect(login.pathname).toBe("/cdn-cgi/access/login/edge.test");
    expect(login.searchParams.get("redirect_url")).toBe(`${ORIGIN}/portal/`);
  });

  it("logs in through the IdP with no app, enrolls a device, and hands out its DoH URL and Apple profile", async () => {
    const { user, res } = await portalLogin("ada@example.com");
    expect(res.response.status).toBe(200);
    const paths = res.hops.map((h) => new URL(h.url).pathname);
    expect(paths).toContain("/cdn-cgi/access/callback");
    expect(paths.at(-1)).toBe("/portal/");
    const page = await res.response.text();
    expect(page).toContain("ada@example.com");
    const csrf = csrfOf(page);
    expect(csrf).not.toBe("");

    const created = await world.browser.post(`${ORIGIN}/portal/gateway/devices`, new URLSearchParams({ csrf, name: "Ada's laptop" }));
    expect(created.response.status).toBe(200);
    const body = await created.response.text();
    const doh = /<code>(https:\/\/edge\.test\/dns-query\/[A-Za-z0-9_-]+)<\/code>/.exec(body)?.[1];
    expect(doh).toBeDefined();
    const token = doh!.split("/").at(-1)!;
    const devices = await exports.default.fetch(`${ORIGIN}/api/v1/gateway/devices?user_id=${user.id}`, { headers: { authorization: "Bearer test-admin-token" } });
    const list = (await devices.json()) as { result: { name: string; user_id: string }[] };
    expect(list.result).toMatchObject([{ name: "Ada's laptop", user_id: user.id }]);

    const profile = await world.browser.post(`${ORIGIN}/portal/gateway/profile`, new URLSearchParams({ csrf: csrfOf(body), token }));
    expect(profile.response.status).toBe(200);
    expect(profile.response.headers.get("content-type")).toBe("application/x-apple-aspen-config");
    const xml = await profile.response.text();
    expect(xml).toContain("<string>com.apple.dnsSettings.managed</string>");
    expect(xml).toContain(`<string>${doh}</string>`);
  });

  it("refuses a form without this session's CSRF token, or from another origin", async () => {
    const { res } = await portalLogin("ada@example.com");
    const csrf = csrfOf(await res.response.text());
    const forged = await world.browser.post(`${ORIGIN}/portal/gateway/devices`, new URLSearchParams({ csrf: "0".repeat(64), name: "x" }));
    expect(forged.response.status).toBe(403);
    const crossSite = await world.browser.post(`${ORIGIN}/portal/gateway/devices`, new URLSearchParams({ csrf, name: "x" }), { headers: { origin: "https://evil.example" } });
    expect(crossSite.response.status).toBe(403);
  });

  it("another user's device token gives no profile; the portal login only returns to the portal", async () => {
    const { res } = await portalLogin("ada@example.com");
    const csrf = csrfOf(await res.response.text());
    const other = await provisionUser(world.conn, "bob@example.com");
    const issued = await exports.default.fetch(`${ORIGIN}/api/v1/gateway/devices`, {
      method: "POST",
      headers: { authorization: "Bearer test-admin-token", "content-type": "application/json" },
      body: JSON.stringify({ user_id: other.id, name: "bob's phone" }),
    });
    const bobToken = ((await issued.json()) as { result: { token: string } }).result.token;
    const stolen = await world.browser.post(`${ORIGIN}/portal/gateway/profile`, new URLSearchParams({ csrf, token: bobToken }));
    expect(stolen.response.status).toBe(404);

    for (const target of [`${ORIGIN}/api/v1/access/apps`, "https://evil.example/portal/", `${ORIGIN}/portalx`]) {
      const login = await exports.default.fetch(`${ORIGIN}/cdn-cgi/access/login/edge.test?redirect_url=${encodeURIComponent(target)}`, { redirect: "manual" });
      expect(login.status, target).toBe(400);
    }
  });

  it("a deprovisioned user is logged out of the portal too", async () => {
    const { user, res } = await portalLogin("ada@example.com");
    expect(res.response.status).toBe(200);
    await scim(world.conn, "DELETE", `/Users/${user.id}`);
    const again = await world.browser.get(`${ORIGIN}/portal/`, { maxHops: 0 });
    expect(again.response.status).toBe(302);
    expect(again.response.headers.get("location")).toContain("/cdn-cgi/access/login/edge.test");
  });
});
