import { beforeEach, describe, expect, it } from "vitest";
import { createConnection, scim, type TestConnection } from "../helpers";

let conn: TestConnection;
beforeEach(async () => {
  conn = await createConnection();
});

describe("SCIM discovery (RFC 7644 §4)", () => {
  it("ServiceProviderConfig advertises what the server really does", async () => {
    const res = await scim(conn, "GET", "/ServiceProviderConfig");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("application/scim+json");
    expect(await res.json()).toMatchObject({
      schemas: ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
      patch: { supported: true },
      bulk: { supported: false, maxPayloadSize: 1_048_576 },
      filter: { supported: true, maxResults: 200 },
      sort: { supported: true },
      etag: { supported: true },
      changePassword: { supported: false },
      authenticationSchemes: [expect.objectContaining({ type: "oauthbearertoken" })],
      meta: { resourceType: "ServiceProviderConfig", location: `${conn.scimBaseUrl}/ServiceProviderConfig` },
    });
  });

  it("ResourceTypes and Schemas come from the registry, including the enterprise extension", async () => {
    const types = (await (await scim(conn, "GET", "/ResourceTypes")).json()) as { Resources: { id: string; schemaExtensions: unknown[] }[] };
    expect(types.Resources.map((r) => r.id).sort()).toEqual(["Group", "User"]);
    const user = (await (await scim(conn, "GET", "/ResourceTypes/User")).json()) as Record<string, unknown>;
    expect(user).toMatchObject({ endpoint: "/Users", schemaExtensions: [{ schema: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", required: false }] });
    const schemas = (await (await scim(conn, "GET", "/Schemas")).json()) as { Resources: { id: string }[] };
    expect(schemas.Resources.map((s) => s.id)).toEqual(
      expect.arrayContaining(["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:core:2.0:Group", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]),
    );
    const enterprise = (await (await scim(conn, "GET", "/Schemas/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")).json()) as { attributes: { name: string }[] };
    expect(enterprise.attributes.map((a) => a.name)).toEqual(expect.arrayContaining(["employeeNumber", "department", "manager"]));
    expect((await scim(conn, "GET", "/Schemas/urn:nope")).status).toBe(404);
  });

  it("refuses filters on discovery endpoints with 403", async () => {
    const res = await scim(conn, "GET", "/Schemas?filter=id%20eq%20%22x%22");
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ status: "403" });
  });

  it("answers unknown endpoints, methods and Bulk with SCIM errors", async () => {
    expect((await scim(conn, "GET", "/Widgets")).status).toBe(404);
    const del = await scim(conn, "DELETE", "/Users");
    expect(del.status).toBe(405);
    expect(await del.json()).toMatchObject({ status: "405" });
    expect((await scim(conn, "POST", "/Bulk", { schemas: ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], Operations: [] })).status).toBe(501);
  });
});

describe("POST /.search at the root (RFC 7644 §3.4.3)", () => {
  it("searches users and groups together, paging across both", async () => {
    for (const userName of ["a@example.com", "b@example.com"]) {
      await scim(conn, "POST", "/Users", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName, displayName: `Team ${userName}` });
    }
    await scim(conn, "POST", "/Groups", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"], displayName: "Team G" });
    const search = (body: Record<string, unknown>) =>
      scim(conn, "POST", "/.search", { schemas: ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], ...body }).then((r) => r.json() as Promise<any>);
    const all = await search({ filter: 'displayName sw "team"' });
    expect(all.totalResults).toBe(3);
    expect(all.Resources.map((r: any) => r.meta.resourceType)).toEqual(["User", "User", "Group"]);
    const second = await search({ filter: 'displayName sw "team"', startIndex: 2, count: 2 });
    expect(second.Resources.map((r: any) => r.displayName)).toEqual(["Team b@example.com", "Team G"]);
    const usersOnly = await search({ filter: 'userName eq "a@example.com"' });
    expect(usersOnly.Resources.map((r: any) => r.userName)).toEqual(["a@example.com"]);
    const bad = await scim(conn, "POST", "/.search", { schemas: ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], filter: "nope eq 1" });
    expect(bad.status).toBe(400);
  });
});
