import { env, exports } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { app } from "../../src/app";
import { finishLogin, startLogin } from "../../src/access/oidc/client";
import { getIdentityProvider } from "../../src/admin/identity-providers";
import { database } from "../../src/db";
import { admin, ORIGIN, provisionUser, type TestConnection } from "../helpers";
import { routeFetch } from "../support/fetch-router";

const ISSUER = `${ORIGIN}/__dev/idp`;
const REDIRECT = `${ORIGIN}/cdn-cgi/access/callback`;

// Every request to the dev IdP must be answered in-process: any network fetch fails the test.
let restore = () => {};
beforeEach(() => {
  restore = routeFetch({});
});
afterEach(() => restore());

async function devConnection(extra: Record<string, unknown> = {}) {
  const clientId = `dev-${crypto.randomUUID().slice(0, 8)}`;
  const res = await admin("POST", "/api/v1/access/identity_providers", { name: clientId, type: "oidc", config: { client_id: clientId, issuer_url: ISSUER, ...extra } });
  expect(res.status).toBe(200);
  const { result } = (await res.json()) as { result: { id: string; config: Record<string, string>; scim_config: { secret: string; scim_base_url: string } } };
  const conn: TestConnection = { id: result.id, secret: result.scim_config.secret, scimBaseUrl: result.scim_config.scim_base_url };
  return { clientId, conn, config: result.config, row: () => getIdentityProvider(database(env), result.id) };
}

/** The browser's part: open the sign-in page, submit it as `email`; returns the page and the callback URL. */
async function signIn(authorizationUrl: string, email: string) {
  const pageRes = await exports.default.fetch(authorizationUrl); // no admin token: a browser
  const page = await pageRes.text();
  const url = new URL(authorizationUrl);
  const form = new URLSearchParams();
  for (const n of ["client_id", "redirect_uri", "state", "nonce", "code_challenge", "scope"]) form.set(n, url.searchParams.get(n) ?? "");
  form.set("email", email);
  const posted = await exports.default.fetch(`${url.origin}${url.pathname}`, { method: "POST", body: form, redirect: "manual" });
  return { pageRes, page, posted, callback: posted.headers.get("location") ? new URL(posted.headers.get("location")!) : null };
}

describe("development IdP (/__dev/idp)", () => {
  it("discovery at save time and the whole login run in-process: startLogin → sign-in page → finishLogin", async () => {
    const { conn, config, row } = await devConnection();
    expect(config).toMatchObject({ auth_url: `${ISSUER}/authorize`, token_url: `${ISSUER}/token`, certs_url: `${ISSUER}/jwks` });
    const { userName } = await provisionUser(conn, "ann@example.com");
    const r = await row();
    const start = await startLogin(env, r, REDIRECT);
    const { pageRes, page, posted, callback } = await signIn(start.authorizationUrl, userName);
    expect(pageRes.status).toBe(200);
    expect(pageRes.headers.get("content-security-policy")).toContain("default-src 'none'");
    expect(page).toContain("Development IdP — sign in as");
    expect(page).toContain(`value="${userName}"`);
    expect(posted.status).toBe(302);
    expect(callback!.origin + callback!.pathname).toBe(REDIRECT);
    expect(callback!.searchParams.get("state")).toBe(start.state);

    const result = await finishLogin(env, r, REDIRECT, callback!, start);
    expect(result).toEqual({ ok: true, login: expect.objectContaining({ email: userName, subject: `dev:${userName}` }) });

    // Codes are single-use.
    expect(await finishLogin(env, r, REDIRECT, callback!, start)).toEqual({ ok: false, error: expect.stringMatching(/invalid_grant/) });
  });

  it("refuses a wrong PKCE verifier, a tampered code and another client's code", async () => {
    const a = await devConnection();
    const b = await devConnection();
    const ra = await a.row();
    const rb = await b.row();
    const start = await startLogin(env, ra, REDIRECT);
    const { callback } = await signIn(start.authorizationUrl, "ann@example.com");
    expect(await finishLogin(env, ra, REDIRECT, callback!, { ...start, codeVerifier: "x".repeat(43) })).toEqual({ ok: false, error: expect.stringMatching(/invalid_grant/) });

    const s2 = await startLogin(env, ra, REDIRECT);
    const { callback: cb2 } = await signIn(s2.authorizationUrl, "ann@example.com");
    const code = cb2!.searchParams.get("code")!;
    cb2!.searchParams.set("code", `${code.slice(0, -2)}${code.endsWith("A") ? "B" : "A"}`);
    expect(await finishLogin(env, ra, REDIRECT, cb2!, s2)).toEqual({ ok: false, error: expect.stringMatching(/invalid_grant/) });

    const s3 = await startLogin(env, ra, REDIRECT);
    const { callback: cb3 } = await signIn(s3.authorizationUrl, "ann@example.com");
    expect(await finishLogin(env, rb, REDIRECT, cb3!, s3)).toEqual({ ok: false, error: expect.stringMatching(/invalid_client/) });
  });

  it("Deny returns access_denied to the relying party", async () => {
    const { row } = await devConnection();
    const r = await row();
    const start = await startLogin(env, r, REDIRECT);
    const url = new URL(start.authorizationUrl);
    const form = new URLSearchParams({ client_id: url.searchParams.get("client_id")!, redirect_uri: REDIRECT, state: start.state, scope: "openid", deny: "1" });
    const posted = await exports.default.fetch(`${ISSUER}/authorize`, { method: "POST", body: form, redirect: "manual" });
    const result = await finishLogin(env, r, REDIRECT, new URL(posted.headers.get("location")!), start);
    expect(result).toEqual({ ok: false, error: "The identity provider refused the login (access_denied)" });
  });

  it("escapes everything it reflects, and redirects only to an Access callback", async () => {
    const { clientId, conn } = await devConnection();
    await provisionUser(conn, `<img src=x onerror=alert(1)>@example.com`);
    const evil = `"><script>alert(1)</script>`;
    const q = new URLSearchParams({ client_id: clientId, redirect_uri: REDIRECT, response_type: "code", scope: "openid", state: evil, nonce: evil });
    const page = await (await exports.default.fetch(`${ISSUER}/authorize?${q}`)).text();
    expect(page).not.toContain("<script>");
    expect(page).not.toContain("<img");
    expect(page).toContain("&quot;&gt;&lt;script&gt;");

    for (const redirect of ["https://evil.test/steal", `${ORIGIN}/cdn-cgi/access/callback#x`, "javascript:alert(1)"]) {
      q.set("redirect_uri", redirect);
      const res = await exports.default.fetch(`${ISSUER}/authorize?${q}`, { redirect: "manual" });
      expect(res.status).toBe(400);
      expect(res.headers.get("location")).toBeNull();
      const posted = await exports.default.fetch(`${ISSUER}/authorize`, { method: "POST", body: new URLSearchParams({ client_id: clientId, redirect_uri: redirect, scope: "openid", email: "a@b.c" }), redirect: "manual" });
      expect(posted.status).toBe(400);
    }
  });

  it("keeps one RS256 key in access_settings with its private part sealed; the JWKS publishes only the public key", async () => {
    await devConnection(); // discovery ran; the key is made on first use
    const jwks = (await (await exports.default.fetch(`${ISSUER}/jwks`)).json()) as { keys: Record<string, string>[] };
    const row = await env.DB.prepare("SELECT value FROM access_settings WHERE key = 'dev_idp_key'").first<{ value: string }>();
    const stored = JSON.parse(row!.value) as { kid: string; private_jwk: string };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]!.kid).toBe(stored.kid);
    expect(jwks.keys[0]).not.toHaveProperty("d");
    expect(stored.private_jwk).toMatch(/^v1\./);
    expect(row!.value).not.toMatch(/"d"\s*:/);
  });

  it("answers only when DEV_ROUTES is on, and never asks for the admin token", async () => {
    const off = await app.fetch(new Request(`${ISSUER}/.well-known/openid-configuration`), { ...env, DEV_ROUTES: "false" });
    expect(off.status).toBe(404);
    const on = await exports.default.fetch(`${ISSUER}/.well-known/openid-configuration`);
    expect(on.status).toBe(200);
    expect(((await on.json()) as { issuer: string }).issuer).toBe(ISSUER);
  });
});
