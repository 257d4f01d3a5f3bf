import { afterEach, describe, expect, it } from "vitest";
import { Browser } from "../support/browser";
import { routeFetch } from "../support/fetch-router";
import { createTestIdp } from "../support/test-idp";

describe("test support: fetch router", () => {
  let restore = () => {};
  afterEach(() => restore());

  it("routes by host and refuses an unknown host with a clear error (never the network)", async () => {
    restore = routeFetch({ "a.test": () => new Response("from a"), "b.test:8443": () => new Response("from b") });
    expect(await (await fetch("https://a.test/x")).text()).toBe("from a");
    expect(await (await fetch("https://b.test:8443/")).text()).toBe("from b");
    await expect(fetch("https://example.com/secret")).rejects.toThrow(/no handler for host "example.com".*never reach the network/);
  });

  it("restores the previous fetch", async () => {
    const before = globalThis.fetch;
    routeFetch({})();
    expect(globalThis.fetch).toBe(before);
  });
});

describe("test support: browser cookie jar", () => {
  const site = (req: Request): Response => {
    const url = new URL(req.url);
    const headers = new Headers();
    if (url.pathname === "/set") {
      headers.append("set-cookie", "a=1; Path=/; HttpOnly; Secure; SameSite=Lax");
      headers.append("set-cookie", "scoped=2; Path=/app");
      headers.append("set-cookie", "short=3; Max-Age=0");
      headers.append("set-cookie", "old=4; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
      return new Response("ok", { headers });
    }
    if (url.pathname === "/delete") {
      headers.append("set-cookie", "a=; Path=/; Max-Age=0");
      return new Response("deleted", { headers });
    }
    if (url.pathname === "/hop") return new Response(null, { status: 302, headers: { location: "/echo" } });
    if (url.pathname === "/loop") return new Response(null, { status: 302, headers: { location: "/loop" } });
    return new Response(req.headers.get("cookie") ?? "");
  };
  const browser = () => new Browser({ external: { "site.test": site, "other.test": site } });

  it("stores attributes, honours Path, Secure, Max-Age and Expires, and keys cookies by host", async () => {
    const b = browser();
    await b.get("https://site.test/set");
    expect(b.cookie("site.test", "a")).toMatchObject({ value: "1", httpOnly: true, secure: true, sameSite: "Lax", path: "/" });
    expect(b.cookie("site.test", "short")).toBeUndefined();
    expect(b.cookie("site.test", "old")).toBeUndefined();
    expect(await (await b.get("https://site.test/echo")).response.text()).toBe("a=1");
    expect(await (await b.get("https://site.test/app/x")).response.text()).toBe("scoped=2; a=1");
    expect(await (await b.get("http://site.test/app")).response.text()).toBe("scoped=2");
    expect(await (await b.get("https://other.test/echo")).response.text()).toBe("");
    await b.get("https://site.test/delete");
    expect(b.cookie("site.test", "a")).toBeUndefined();
  });

  it("follows redirects and records the hops; stops after maxHops", async () => {
    const b = browser();
    const { response, hops, url } = await b.get("https://site.test/hop");
    expect(url).toBe("https://site.test/echo");
    expect(response.status).toBe(200);
    expect(hops.map((h) => h.status)).toEqual([302, 200]);
    const loop = await b.get("https://site.test/loop", { maxHops: 3 });
    expect(loop.response.status).toBe(302);
    expect(loop.hops).toHaveLength(4);
  });
});

describe("test support: test IdP", () => {
  it.each([
    ["oidc", {}, "https://idp.test/authorize"],
    ["entra", { tenantId: "11111111-2222-3333-4444-555555555555" }, "https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/oauth2/v2.0/authorize"],
    ["okta", {}, "https://example.okta.com/oauth2/default/v1/authorize"],
    ["okta", { issuer: "https://example.okta.com" }, "https://example.okta.com/oauth2/v1/authorize"],
  ] as const)("%s %j publishes discovery with its endpoints", async (kind, extra, authorization) => {
    const idp = await createTestIdp({ kind, ...extra });
    const doc = (await (await idp.handle(new Request(idp.endpoints.discovery))).json()) as Record<string, string>;
    expect(doc.issuer).toBe(idp.issuer);
    expect(doc.authorization_endpoint).toBe(authorization);
    const jwks = (await (await idp.handle(new Request(doc.jwks_uri!))).json()) as { keys: { kid: string; d?: string }[] };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).not.toHaveProperty("d");
    await idp.rotateKey();
    expect(((await (await idp.handle(new Request(doc.jwks_uri!))).json()) as { keys: unknown[] }).keys).toHaveLength(2);
    expect(idp.requests).toMatchObject({ discovery: 1, jwks: 2 });
  });

  it("denies without nextLogin and refuses a token request without the right secret or PKCE verifier", async () => {
    const idp = await createTestIdp();
    const authz = (extra = "") => `${idp.endpoints.authorization}?response_type=code&scope=openid&client_id=${idp.clientId}&redirect_uri=https://rp.test/cb&state=s1${extra}`;
    const denied = await idp.approve(authz());
    expect(denied.searchParams.get("error")).toBe("access_denied");
    expect(denied.searchParams.get("state")).toBe("s1");
    idp.nextLogin = { email: "ann@example.com" };
    const ok = await idp.approve(authz("&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"));
    const code = ok.searchParams.get("code")!;
    const tokenReq = (form: Record<string, string>) => idp.handle(new Request(idp.endpoints.token, { method: "POST", body: new URLSearchParams(form) }));
    const base = { grant_type: "authorization_code", code, redirect_uri: "https://rp.test/cb", client_id: idp.clientId };
    expect((await tokenReq({ ...base, client_secret: "wrong", code_verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk" })).status).toBe(401);
    expect((await tokenReq({ ...base, client_secret: idp.clientSecret, code_verifier: "wrong-verifier-wrong-verifier-wrong-verifier" })).status).toBe(400);
    // The code was spent by the failed attempt (single use), as real providers do.
    expect((await tokenReq({ ...base, client_secret: idp.clientSecret, code_verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk" })).status).toBe(400);
  });
});
