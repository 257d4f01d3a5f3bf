import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { finishLogin, startLogin } from "../../src/access/oidc/client";
import { database, type IdentityProviderRow } from "../../src/db";
import { getIdentityProvider } from "../../src/admin/identity-providers";
import { admin } from "../helpers";
import { routeFetch } from "../support/fetch-router";
import { createTestIdp, type TestIdp, type TestIdpOptions } from "../support/test-idp";

const REDIRECT = "https://edge.test/cdn-cgi/access/callback";
let restore = () => {};
afterEach(() => restore());

/** A test IdP reachable through the stubbed fetch, and a connection pointing at it. */
async function setup(options: TestIdpOptions = {}, extraConfig: Record<string, unknown> = {}): Promise<{ idp: TestIdp; row: () => Promise<IdentityProviderRow> }> {
  const idp = await createTestIdp(options);
  restore = routeFetch({ [idp.host]: idp.handle });
  const { type, config } = idp.connection();
  const res = await admin("POST", "/api/v1/access/identity_providers", { name: `oidc-${crypto.randomUUID().slice(0, 6)}`, type, config: { ...config, ...extraConfig } });
  if (res.status !== 200) throw new Error(`create connection: ${res.status} ${await res.text()}`);
  const id = ((await res.json()) as { result: { id: string } }).result.id;
  return { idp, row: () => getIdentityProvider(database(env), id) };
}

/** startLogin → the IdP's authorization endpoint → finishLogin, as the callback would. */
async function login(idp: TestIdp, row: IdentityProviderRow, tamper: (callback: URL) => URL = (u) => u) {
  const start = await startLogin(env, row, REDIRECT);
  const callback = tamper(await idp.approve(start.authorizationUrl));
  return finishLogin(env, row, REDIRECT, callback, start);
}

const uniqueHost = () => `idp-${crypto.randomUUID().slice(0, 8)}.test`;

describe("OIDC login (oauth4webapi + jose) against an in-test provider", () => {
  it.each([
    ["generic OIDC (issuer discovery)", { kind: "oidc" as const, issuer: `https://${uniqueHost()}` }],
    ["generic OIDC with a path and trailing slash in the issuer", { kind: "oidc" as const, issuer: `https://${uniqueHost()}/realms/x/` }],
    ["Entra ID (https://login.microsoftonline.com/{tid}/v2.0)", { kind: "entra" as const }],
    ["Okta custom authorization server (https://example.okta.com/oauth2/{id})", { kind: "okta" as const }],
    ["Okta org authorization server (https://example.okta.com)", { kind: "okta" as const, issuer: "https://example.okta.com" }],
  ])("%s: a login validates and yields the identity", async (_label, options) => {
    const { idp, row } = await setup(options);
    idp.nextLogin = { email: "Ann@Example.com", claims: { groups: ["eng", 7, "ops"], name: "Ann" } };
    const result = await login(idp, await row());
    expect(result).toEqual({
      ok: true,
      login: expect.objectContaining({ email: "Ann@Example.com", subject: "sub-Ann@Example.com", groupsClaim: ["eng", "ops"] }),
    });
    // PKCE S256, state, nonce, scopes and response_type went out with the authorization request.
    const q = idp.lastAuthorization!;
    expect(q.get("code_challenge_method")).toBe("S256");
    expect(q.get("code_challenge")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(q.get("state")).toBeTruthy();
    expect(q.get("nonce")).toBeTruthy();
    expect(q.get("response_type")).toBe("code");
    expect(q.get("scope")).toBe("openid email profile");
    expect(idp.requests.token).toBe(1);
  });

  it("Entra ID without an email claim: preferred_username is reported apart, email stays null", async () => {
    const { idp, row } = await setup({ kind: "entra" });
    idp.nextLogin = { sub: "oid-1", claims: { preferred_username: "ann@contoso.com" } };
    const result = await login(idp, await row());
    expect(result).toMatchObject({ ok: true, login: { email: null, preferredUsername: "ann@contoso.com", subject: "oid-1" } });
  });

  it("email_claim_name picks another claim; scopes and pkce_enabled: false are honoured", async () => {
    const { idp, row } = await setup({ issuer: `https://${uniqueHost()}` }, { email_claim_name: "mail", scopes: ["email", "groups"], pkce_enabled: false });
    idp.nextLogin = { email: "ignored@example.com", claims: { mail: "real@example.com" } };
    const result = await login(idp, await row());
    expect(result).toMatchObject({ ok: true, login: { email: "real@example.com" } });
    expect(idp.lastAuthorization!.get("scope")).toBe("openid email groups");
    expect(idp.lastAuthorization!.has("code_challenge")).toBe(false);
  });

  it.each([
    ["the IdP answers access_denied", { deny: true }, /refused the login \(access_denied\)/],
    ["a wrong nonce", { nonce: true }, /ID token was rejected: .*nonce/],
    ["a wrong audience", { audience: true }, /ID token was rejected: .*aud/],
    ["an expired ID token", { expired: true }, /ID token was rejected: .*exp/],
    ["another issuer", { issuer: "https://evil.test" }, /ID token was rejected: .*iss/],
    ["a bad signature", { badSignature: true }, /signature is invalid/],
    ["a 500 from the token endpoint", { tokenStatus: 500 }, /token endpoint failed \(HTTP 500\)/],
    ["a 400 from the token endpoint", { tokenStatus: 400 }, /token endpoint refused the code \(server_error, HTTP 400\)/],
  ])("%s is refused with a clear error, never a throw", async (_label, misbehave, message) => {
    const { idp, row } = await setup({ issuer: `https://${uniqueHost()}` });
    idp.nextLogin = { email: "ann@example.com" };
    idp.misbehave = misbehave;
    const result = await login(idp, await row());
    expect(result).toEqual({ ok: false, error: expect.stringMatching(message) });
  });

  it("a state mismatch, a replayed code and an unreachable token endpoint are refused", async () => {
    const { idp, row } = await setup({ issuer: `https://${uniqueHost()}` });
    idp.nextLogin = { email: "ann@example.com" };
    const r = await row();
    const mismatch = await login(idp, r, (u) => (u.searchParams.set("state", "forged"), u));
    expect(mismatch).toEqual({ ok: false, error: expect.stringMatching(/Invalid authorization response: .*state/) });

    const start = await startLogin(env, r, REDIRECT);
    const callback = await idp.approve(start.authorizationUrl);
    expect((await finishLogin(env, r, REDIRECT, callback, start)).ok).toBe(true);
    expect(await finishLogin(env, r, REDIRECT, callback, start)).toEqual({ ok: false, error: expect.stringMatching(/invalid_grant/) });

    const again = await startLogin(env, r, REDIRECT);
    const cb = await idp.approve(again.authorizationUrl);
    restore();
    restore = routeFetch({}); // the IdP's host is now unreachable
    expect(await finishLogin(env, r, REDIRECT, cb, again)).toEqual({ ok: false, error: "The identity provider's token endpoint could not be reached" });
  });

  it("the JWKS is cached across logins and refetched when the provider rotates its key", async () => {
    const { idp, row } = await setup({ issuer: `https://${uniqueHost()}` });
    idp.nextLogin = { email: "ann@example.com" };
    const r = await row();
    for (let i = 0; i < 3; i++) expect((await login(idp, r)).ok).toBe(true);
    expect(idp.requests.jwks).toBe(1);
    await idp.rotateKey();
    expect((await login(idp, r)).ok).toBe(true); // unknown kid → one refetch, at once
    expect(idp.requests.jwks).toBe(2);
    expect((await login(idp, r)).ok).toBe(true);
    expect(idp.requests.jwks).toBe(2);
  });
});

describe("client_secret is write-only and encrypted at rest", () => {
  it("is sealed in client_secret_ciphertext, never in config, responses or the audit log; PATCH without it keeps it", async () => {
    const { idp, row } = await setup({ issuer: `https://${uniqueHost()}` });
    const { id } = await row();
    const raw = await env.DB.prepare("SELECT * FROM identity_providers WHERE id = ?").bind(id).first<Record<string, string>>();
    expect(JSON.stringify(raw)).not.toContain(idp.clientSecret);
    expect(raw!.client_secret_ciphertext).toMatch(/^v1\./);
    expect(JSON.parse(raw!.config!)).not.toHaveProperty("client_secret");

    const get = await (await admin("GET", `/api/v1/access/identity_providers/${id}`)).text();
    const list = await (await admin("GET", "/api/v1/access/identity_providers")).text();
    expect(get).not.toContain(idp.clientSecret);
    expect(list).not.toContain(idp.clientSecret);
    expect((JSON.parse(get) as { result: { config: object } }).result.config).not.toHaveProperty("client_secret");

    // PATCH without client_secret keeps the stored one: logins still authenticate at the token endpoint.
    const patched = await admin("PATCH", `/api/v1/access/identity_providers/${id}`, { config: { client_id: idp.clientId, issuer_url: idp.issuer, scopes: ["email"] } });
    expect(patched.status).toBe(200);
    expect(await patched.text()).not.toContain(idp.clientSecret);
    idp.nextLogin = { email: "ann@example.com" };
    expect((await login(idp, await row())).ok).toBe(true);

    // A new secret replaces it (the IdP now refuses the client).
    await admin("PATCH", `/api/v1/access/identity_providers/${id}`, { config: { client_id: idp.clientId, issuer_url: idp.issuer, client_secret: "rotated-secret" } });
    expect(await login(idp, await row())).toEqual({ ok: false, error: expect.stringMatching(/refused the (code|client)/) });

    const audit = await env.DB.prepare("SELECT details FROM audit_log WHERE target_id = ?").bind(id).all<{ details: string }>();
    expect(audit.results.length).toBeGreaterThanOrEqual(3);
    for (const { details } of audit.results) {
      expect(details).not.toContain(idp.clientSecret);
      expect(details).not.toContain("rotated-secret");
    }
  });

  it("a ciphertext moved to another connection does not decrypt (bound to its connection id)", async () => {
    const a = await setup({ issuer: `https://${uniqueHost()}` });
    const rowA = await a.row();
    const b = await setup({ issuer: `https://${uniqueHost()}` });
    const rowB = await b.row();
    b.idp.nextLogin = { email: "ann@example.com" };
    const result = await login(b.idp, { ...rowB, clientSecretCiphertext: rowA.clientSecretCiphertext });
    expect(result).toEqual({ ok: false, error: expect.stringMatching(/client secret cannot be read/) });
  });
});
