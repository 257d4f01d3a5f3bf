import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { afterEach } from "vitest";
import { admin, createConnection, ORIGIN, scim } from "../helpers";
import { routeFetch } from "../support/fetch-router";
import { createTestIdp } from "../support/test-idp";

describe("admin API: identity providers", () => {
  it("rejects requests without the admin token", async () => {
    for (const authorization of [undefined, "Bearer wrong", "Basic dGVzdA=="]) {
      const res = await exports.default.fetch(`${ORIGIN}/api/v1/access/identity_providers`, {
        headers: authorization ? { authorization } : {},
      });
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ success: false, errors: [{ code: 10000 }] });
    }
  });

  it("creates a connection in Cloudflare's shape, returning the secret once and storing only its SHA-256", async () => {
    const res = await admin("POST", "/api/v1/access/identity_providers", {
      name: "Contoso Entra",
      type: "azureAD",
      config: { client_id: "abc", directory_id: "0b5a3a7c-2f4e-4a57-9d2b-111111111111" },
      scim_config: { enabled: true, user_deprovision: true, seat_deprovision: true, identity_update_behavior: "reauth" },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { success: boolean; result: { id: string; scim_config: Record<string, unknown> } };
    expect(body.success).toBe(true);
    const { id, scim_config } = body.result;
    expect(scim_config).toMatchObject({
      enabled: true,
      user_deprovision: true,
      seat_deprovision: true,
      identity_update_behavior: "reauth",
      scim_base_url: `${ORIGIN}/populations/${id}/scim/v2`,
    });
    const secret = scim_config.secret as string;
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const row = await env.DB.prepare("SELECT * FROM identity_providers WHERE id = ?").bind(id).first<Record<string, string>>();
    expect(JSON.stringify(row)).not.toContain(secret);
    const digest = [...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(secret)))]
      .map((b) => b.toString(16).padStart(2, "0"))
      .join("");
    expect(row?.scim_secret_hash).toBe(digest);

    const get = (await (await admin("GET", `/api/v1/access/identity_providers/${id}`)).json()) as { result: { scim_config: object } };
    expect(get.result.scim_config).not.toHaveProperty("secret");
    const list = (await (await admin("GET", "/api/v1/access/identity_providers")).json()) as { result: unknown[] };
    expect(JSON.stringify(list.result)).not.toContain(secret);
  });

  it.each([
    [{ name: "", type: "okta" }, "name"],
    [{ name: "x", type: "saml-ish" }, "type"],
    [{ name: "x", type: "okta", scim_config: { seat_deprovision: true, user_deprovision: false } }, "seat_deprovision requires"],
    [{ name: "x", type: "okta", scim_config: { identity_update_behavior: "sometimes" } }, "identity_update_behavior"],
    // Per-type config validation (src/access/oidc/config.ts); no network is involved in these.
    [{ name: "x", type: "okta", config: { directory_id: "0b5a3a7c-2f4e-4a57-9d2b-111111111111" } }, "directory_id is not a field of okta"],
    [{ name: "x", type: "azureAD", config: { client_id: "c", directory_id: "tenant-1" } }, "config.directory_id: must be the tenant id (a GUID) or one of the tenant's verified domains"],
    [{ name: "x", type: "azureAD", config: { client_id: "c" } }, "config.directory_id is required"],
    [{ name: "x", type: "okta", config: { client_id: "c" } }, "config.okta_account is required"],
    [{ name: "x", type: "okta", config: { okta_account: "https://dev-1.okta.com/oauth2/default" } }, "config.okta_account: the account's URL without a path"],
    [{ name: "x", type: "okta", config: { okta_account: "https://dev-1.okta.com", authorization_server_id: "a/b" } }, "config.authorization_server_id"],
    [{ name: "x", type: "oidc", config: { client_id: "c", auth_url: "https://a.test/a", token_url: "https://a.test/t", certs_url: "https://a.test/k" } }, "config.issuer_url is required"],
    [{ name: "x", type: "oidc", config: { issuer_url: "http://idp.example.com", auth_url: "https://a.test/a", token_url: "https://a.test/t", certs_url: "https://a.test/k" } }, "config.issuer_url: must be an https URL"],
    [{ name: "x", type: "oidc", config: { auth_url: "not a url" } }, "config.auth_url: not a URL"],
    [{ name: "x", type: "oidc", config: { scopes: ["openid email"] } }, "config.scopes.0"],
    [{ name: "x", type: "oidc", config: { client_secret: "" } }, "config.client_secret"],
  ])("rejects invalid input %j with a 400 naming the field", async (input, field) => {
    const before = await env.DB.prepare("SELECT count(*) AS n FROM identity_providers").first<number>("n");
    const res = await admin("POST", "/api/v1/access/identity_providers", input);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { errors: { message: string }[] };
    expect(body.errors[0]?.message).toContain(field);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM identity_providers").first<number>("n")).toBe(before);
  });

  it("rotating the secret invalidates the old one immediately", async () => {
    const conn = await createConnection();
    expect((await scim(conn, "GET", "/Users")).status).toBe(200);
    const res = await admin("POST", `/api/v1/access/identity_providers/${conn.id}/refresh_scim_secret`);
    const fresh = ((await res.json()) as { result: { scim_config: { secret: string } } }).result.scim_config.secret;
    expect(fresh).not.toBe(conn.secret);
    expect((await scim(conn, "GET", "/Users")).status).toBe(401);
    expect((await scim({ ...conn, secret: fresh }, "GET", "/Users")).status).toBe(200);
  });

  it("updates settings with PATCH and deletes a connection with its directory", async () => {
    const conn = await createConnection();
    const patched = await admin("PATCH", `/api/v1/access/identity_providers/${conn.id}`, {
      scim_config: { identity_update_behavior: "no_action" },
    });
    expect(((await patched.json()) as { result: { scim_config: { identity_update_behavior: string } } }).result.scim_config.identity_update_behavior).toBe("no_action");
    const created = await scim(conn, "POST", "/Users", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: "gone@example.com" });
    expect(created.status).toBe(201);
    expect((await admin("DELETE", `/api/v1/access/identity_providers/${conn.id}`)).status).toBe(200);
    expect((await admin("GET", `/api/v1/access/identity_providers/${conn.id}`)).status).toBe(404);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM users WHERE idp_id = ?").bind(conn.id).first<number>("n")).toBe(0);
    expect((await scim(conn, "GET", "/Users")).status).toBe(401);
  });

  it("disabling SCIM on a connection refuses its secret", async () => {
    const conn = await createConnection();
    await admin("PATCH", `/api/v1/access/identity_providers/${conn.id}`, { scim_config: { enabled: false } });
    expect((await scim(conn, "GET", "/Users")).status).toBe(401);
  });

  it("lists provisioned users and groups with Cloudflare's query parameters", async () => {
    const conn = await createConnection();
    const schemas = ["urn:ietf:params:scim:schemas:core:2.0:User"];
    for (const [userName, externalId] of [["ann@example.com", "ext-ann"], ["bob@example.com", "ext-bob"]]) {
      await scim(conn, "POST", "/Users", { schemas, userName, externalId, emails: [{ value: userName, primary: true }] });
    }
    await scim(conn, "POST", "/Groups", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"], displayName: "risky" });
    const users = (await (await admin("GET", `/api/v1/access/identity_providers/${conn.id}/scim/users?email=ANN@example.com`)).json()) as {
      result: { username: string; idp_resource_id: string; is_active: boolean }[];
      result_info: { total_count: number };
    };
    expect(users.result).toEqual([expect.objectContaining({ username: "ann@example.com", idp_resource_id: "ext-ann", is_active: true })]);
    expect(users.result_info.total_count).toBe(1);
    const page = (await (await admin("GET", `/api/v1/access/identity_providers/${conn.id}/scim/users?per_page=1&page=2`)).json()) as {
      result: { username: string }[];
    };
    expect(page.result.map((u) => u.username)).toEqual(["bob@example.com"]);
    const groups = (await (await admin("GET", `/api/v1/access/identity_providers/${conn.id}/scim/groups`)).json()) as { result: { display_name: string }[] };
    expect(groups.result.map((g) => g.display_name)).toEqual(["risky"]);
  });

  describe("OIDC config (Cloudflare's shape)", () => {
    let restore = () => {};
    afterEach(() => restore());
    const create = (type: string, config: Record<string, unknown>) => admin("POST", "/api/v1/access/identity_providers", { name: `c-${crypto.randomUUID().slice(0, 6)}`, type, config });
    const resultOf = async (res: Response) => ((await res.json()) as { result: { id: string; config: Record<string, unknown> } }).result;

    it("oidc: issuer_url discovery fills in auth_url, token_url and certs_url when saved (fields given win)", async () => {
      const idp = await createTestIdp({ issuer: "https://disc.test/tenant" });
      restore = routeFetch({ "disc.test": idp.handle });
      const res = await create("oidc", { client_id: "c", client_secret: "s", issuer_url: "https://disc.test/tenant", certs_url: "https://disc.test/my-keys" });
      expect(res.status).toBe(200);
      expect((await resultOf(res)).config).toEqual({
        client_id: "c",
        issuer_url: "https://disc.test/tenant",
        auth_url: "https://disc.test/authorize",
        token_url: "https://disc.test/token",
        certs_url: "https://disc.test/my-keys",
      });
      expect(idp.requests.discovery).toBe(1);
    });

    it.each([
      ["a 404", () => new Response("nope", { status: 404 }), "unexpected HTTP status code"],
      ["another issuer", () => Response.json({ issuer: "https://evil.test", authorization_endpoint: "https://evil.test/a" }), "issuer"],
      ["a network failure", () => Promise.reject(new TypeError("connection refused")), "failed"],
    ])("oidc: discovery answering %s is a 400 naming issuer_url, and nothing is stored", async (_label, handler, detail) => {
      restore = routeFetch({ "broken.test": handler });
      const before = await env.DB.prepare("SELECT count(*) AS n FROM identity_providers").first<number>("n");
      const res = await create("oidc", { client_id: "c", issuer_url: "https://broken.test" });
      expect(res.status).toBe(400);
      const message = ((await res.json()) as { errors: { message: string }[] }).errors[0]!.message;
      expect(message).toContain("config.issuer_url: OpenID discovery at https://broken.test/.well-known/openid-configuration failed");
      expect(message).toContain(detail);
      expect(await env.DB.prepare("SELECT count(*) AS n FROM identity_providers").first<number>("n")).toBe(before);
    });

    it("azureAD: a tenant GUID derives the issuer; a verified domain is resolved to its tenant through discovery", async () => {
      const guid = await resultOf(await create("azureAD", { client_id: "c", directory_id: "0B5A3A7C-2F4E-4A57-9D2B-222222222222" }));
      expect(guid.config.issuer_url).toBe("https://login.microsoftonline.com/0b5a3a7c-2f4e-4a57-9d2b-222222222222/v2.0");

      const entra = await createTestIdp({ kind: "entra", tenantId: "0b5a3a7c-2f4e-4a57-9d2b-333333333333" });
      // Entra answers a domain's discovery with the tenant's GUID issuer.
      restore = routeFetch({ "login.microsoftonline.com": (req) => entra.handle(new Request(req.url.replace("contoso.com", entra.tenantId!))) });
      const domain = await resultOf(await create("azureAD", { client_id: "c", directory_id: "contoso.com" }));
      expect(domain.config).toMatchObject({ directory_id: "contoso.com", issuer_url: entra.issuer });
    });

    it("okta: okta_account is normalised to its origin; PATCH re-validates; PATCH of type re-validates the stored config", async () => {
      const created = await resultOf(await create("okta", { client_id: "c", okta_account: "https://dev-1.okta.com/", authorization_server_id: "default" }));
      expect(created.config).toEqual({ client_id: "c", okta_account: "https://dev-1.okta.com", authorization_server_id: "default" });
      const bad = await admin("PATCH", `/api/v1/access/identity_providers/${created.id}`, { config: { client_id: "c", okta_account: "ftp://x" } });
      expect(bad.status).toBe(400);
      const retype = await admin("PATCH", `/api/v1/access/identity_providers/${created.id}`, { type: "azureAD" });
      expect(retype.status).toBe(400);
      expect(await retype.text()).toContain("config: okta_account, authorization_server_id are not fields of azureAD connections");
    });
  });
});
