import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { admin, createConnection, ORIGIN, scim } from "../helpers";

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
      config: { client_id: "abc", directory_id: "tenant-1" },
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
    [{ name: "x", type: "okta", config: { client_secret: "s3cret" } }, "config"],
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
});
