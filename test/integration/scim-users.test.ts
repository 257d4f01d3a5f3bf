import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { createConnection, dumpDirectory, scim, type TestConnection } from "../helpers";

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR = "urn:ietf:params:scim:api:messages:2.0:Error";

let conn: TestConnection;
beforeEach(async () => {
  conn = await createConnection();
});

async function createUser(userName: string, extra: Record<string, unknown> = {}) {
  const res = await scim(conn, "POST", "/Users", { schemas: [USER], userName, emails: [{ value: userName, type: "work", primary: true }], ...extra });
  expect(res.status).toBe(201);
  return (await res.json()) as Record<string, any>;
}

describe("SCIM /Users", () => {
  it("creates a user: 201, Location, ETag, meta, application/scim+json; the password is never stored or returned", async () => {
    const res = await scim(conn, "POST", "/Users", {
      schemas: [USER, ENTERPRISE, "urn:example:custom:2.0:User"],
      userName: "Ann.Lee@Example.com",
      externalId: "00u1",
      name: { givenName: "Ann", familyName: "Lee" },
      emails: [{ value: "ann.lee@example.com", type: "work", primary: true }],
      password: "hunter2-Secret!",
      active: true,
      [ENTERPRISE]: { employeeNumber: "42", department: "Security", manager: { value: "mgr-1" } },
      "urn:example:custom:2.0:User": { badge: "A-7", clearance: { level: 3 } },
    });
    expect(res.status).toBe(201);
    expect(res.headers.get("content-type")).toContain("application/scim+json");
    const body = (await res.json()) as Record<string, any>;
    expect(res.headers.get("location")).toBe(`${conn.scimBaseUrl}/Users/${body.id}`);
    expect(res.headers.get("etag")).toBe('W/"1"');
    expect(body).toMatchObject({
      id: expect.any(String),
      userName: "Ann.Lee@Example.com",
      externalId: "00u1",
      active: true,
      meta: { resourceType: "User", version: 'W/"1"', location: `${conn.scimBaseUrl}/Users/${body.id}` },
      [ENTERPRISE]: { employeeNumber: "42", department: "Security", manager: { value: "mgr-1" } },
      "urn:example:custom:2.0:User": { badge: "A-7", clearance: { level: 3 } },
    });
    expect(body.schemas).toEqual(expect.arrayContaining([USER, ENTERPRISE, "urn:example:custom:2.0:User"]));
    expect(body).not.toHaveProperty("password");
    const stored = await env.DB.prepare("SELECT * FROM users WHERE id = ?").bind(body.id).first<Record<string, unknown>>();
    expect(JSON.stringify(stored)).not.toContain("hunter2");

    const got = await scim(conn, "GET", `/Users/${body.id}`);
    expect(got.status).toBe(200);
    const again = (await got.json()) as Record<string, any>;
    expect(again["urn:example:custom:2.0:User"]).toEqual({ badge: "A-7", clearance: { level: 3 } });
    expect(again.groups).toEqual([]);
  });

  it("refuses a duplicate userName case-insensitively with 409 uniqueness", async () => {
    await createUser("dup@example.com", { externalId: "e-1" });
    const res = await scim(conn, "POST", "/Users", { schemas: [USER], userName: "DUP@example.com" });
    expect(res.status).toBe(409);
    expect(await res.json()).toEqual({ schemas: [ERROR], status: "409", scimType: "uniqueness", detail: expect.any(String) });
  });

  it("accepts a repeated externalId (RFC 7643 §3.1; Microsoft's test collection sends one literal value) and finds both by it", async () => {
    const a = (await createUser("ext-a@example.com", { externalId: "same-ext" })).id;
    const b = await scim(conn, "POST", "/Users", { schemas: [USER], userName: "ext-b@example.com", externalId: "same-ext" });
    expect(b.status).toBe(201);
    const bid = ((await b.json()) as { id: string }).id;
    const found = (await (await scim(conn, "GET", `/Users?filter=${encodeURIComponent('externalId eq "same-ext"')}`)).json()) as { totalResults: number; Resources: { id: string }[] };
    expect(found.totalResults).toBe(2);
    expect(found.Resources.map((r) => r.id).sort()).toEqual([a, bid].sort());
  });

  it("lets two connections hold the same userName (uniqueness is per connection)", async () => {
    await createUser("shared@example.com");
    const other = await createConnection();
    const res = await scim(other, "POST", "/Users", { schemas: [USER], userName: "shared@example.com" });
    expect(res.status).toBe(201);
  });

  it.each([
    ["missing userName", { schemas: [USER] }, 400, "invalidValue"],
    ["userName not a string", { schemas: [USER], userName: 7 }, 400, "invalidValue"],
    ["no schemas", { userName: "x@example.com" }, 400, "invalidSyntax"],
    ["not an object", [1, 2], 400, "invalidSyntax"],
  ])("rejects %s and writes nothing", async (_name, body, status, scimType) => {
    const before = await dumpDirectory();
    const res = await scim(conn, "POST", "/Users", body);
    expect(res.status).toBe(status);
    expect(await res.json()).toMatchObject({ schemas: [ERROR], status: String(status), scimType });
    expect(await dumpDirectory()).toEqual(before);
  });

  it("answers 400 invalidSyntax for malformed JSON, 415 for a non-JSON media type, 413 over the payload limit", async () => {
    const bad = await scim(conn, "POST", "/Users", "{not json");
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ scimType: "invalidSyntax", status: "400" });
    const xml = await scim(conn, "POST", "/Users", "<user/>", { "content-type": "application/xml" });
    expect(xml.status).toBe(415);
    const huge = await scim(conn, "POST", "/Users", { schemas: [USER], userName: "big@example.com", nickName: "x".repeat(1_100_000) });
    expect(huge.status).toBe(413);
    expect(await huge.json()).toMatchObject({ status: "413" });
  });

  it("404s unknown ids with the SCIM error shape", async () => {
    for (const method of ["GET", "PUT", "PATCH", "DELETE"]) {
      const body = method === "PUT" ? { schemas: [USER], userName: "x" } : method === "PATCH" ? { schemas: [PATCH_OP], Operations: [{ op: "replace", path: "active", value: false }] } : undefined;
      const res = await scim(conn, method, "/Users/does-not-exist", body);
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ schemas: [ERROR], status: "404" });
    }
  });

  it("PUT replaces the user; attributes left out are cleared; ETag advances", async () => {
    const u = await createUser("put@example.com", { displayName: "Put Me", title: "Engineer" });
    const res = await scim(conn, "PUT", `/Users/${u.id}`, { schemas: [USER], userName: "put@example.com", displayName: "Put You" });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, any>;
    expect(body.displayName).toBe("Put You");
    expect(body).not.toHaveProperty("title");
    expect(body.meta.version).toBe('W/"2"');
    expect(res.headers.get("etag")).toBe('W/"2"');
  });

  it("honours If-Match (412 on a stale version, nothing written) and If-None-Match (304)", async () => {
    const u = await createUser("etag@example.com");
    const stale = await scim(conn, "PATCH", `/Users/${u.id}`, { schemas: [PATCH_OP], Operations: [{ op: "replace", path: "displayName", value: "X" }] }, { "if-match": 'W/"7"' });
    expect(stale.status).toBe(412);
    expect(await stale.json()).toMatchObject({ status: "412" });
    const fresh = await scim(conn, "PATCH", `/Users/${u.id}`, { schemas: [PATCH_OP], Operations: [{ op: "replace", path: "displayName", value: "X" }] }, { "if-match": 'W/"1"' });
    expect(fresh.status).toBe(200);
    const cached = await scim(conn, "GET", `/Users/${u.id}`, undefined, { "if-none-match": 'W/"2"' });
    expect(cached.status).toBe(304);
    const changed = await scim(conn, "GET", `/Users/${u.id}`, undefined, { "if-none-match": 'W/"1"' });
    expect(changed.status).toBe(200);
  });

  it("a PATCH that changes nothing keeps the version (no-op detection)", async () => {
    const u = await createUser("noop@example.com", { displayName: "Same" });
    const res = await scim(conn, "PATCH", `/Users/${u.id}`, { schemas: [PATCH_OP], Operations: [{ op: "replace", path: "displayName", value: "Same" }] });
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).meta.version).toBe('W/"1"');
  });

  it("PATCH on a read-only attribute is 400 mutability and changes nothing", async () => {
    const u = await createUser("ro@example.com");
    const before = await dumpDirectory();
    const res = await scim(conn, "PATCH", `/Users/${u.id}`, { schemas: [PATCH_OP], Operations: [{ op: "replace", path: "groups", value: [] }] });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ scimType: "mutability" });
    expect(await dumpDirectory()).toEqual(before);
  });

  it("DELETE answers 204 and the user is gone, with its memberships", async () => {
    const u = await createUser("del@example.com");
    const g = await scim(conn, "POST", "/Groups", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"], displayName: "g", members: [{ value: u.id }] });
    expect(g.status).toBe(201);
    expect((await scim(conn, "DELETE", `/Users/${u.id}`)).status).toBe(204);
    expect((await scim(conn, "GET", `/Users/${u.id}`)).status).toBe(404);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM group_members WHERE user_id = ?").bind(u.id).first<number>("n")).toBe(0);
  });

  it("lists with filters, paging, sorting and projection", async () => {
    for (const n of ["carol", "alice", "bob", "dave"]) await createUser(`${n}@example.com`, { displayName: n.toUpperCase(), title: n === "bob" ? "CTO" : "Engineer" });
    const eq = (await (await scim(conn, "GET", `/Users?filter=${encodeURIComponent('userName eq "ALICE@example.com"')}`)).json()) as any;
    expect(eq.totalResults).toBe(1);
    expect(eq.Resources[0].userName).toBe("alice@example.com");

    // Entra encodes spaces as '+'.
    const plus = (await (await scim(conn, "GET", "/Users?filter=userName+eq+%22bob%40example.com%22")).json()) as any;
    expect(plus.Resources.map((r: any) => r.userName)).toEqual(["bob@example.com"]);

    const page = (await (await scim(conn, "GET", "/Users?sortBy=userName&sortOrder=descending&startIndex=2&count=2")).json()) as any;
    expect(page).toMatchObject({ schemas: ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], totalResults: 4, startIndex: 2, itemsPerPage: 2 });
    expect(page.Resources.map((r: any) => r.userName)).toEqual(["carol@example.com", "bob@example.com"]);

    const countOnly = (await (await scim(conn, "GET", "/Users?count=0")).json()) as any;
    expect(countOnly).toMatchObject({ totalResults: 4, itemsPerPage: 0, Resources: [] });

    const projected = (await (await scim(conn, "GET", "/Users?attributes=userName&filter=title%20eq%20%22cto%22")).json()) as any;
    expect(projected.Resources).toEqual([{ schemas: expect.any(Array), id: expect.any(String), userName: "bob@example.com" }]);

    const emails = (await (await scim(conn, "GET", `/Users?filter=${encodeURIComponent('emails[type eq "work" and value co "@EXAMPLE.com"]')}&count=100`)).json()) as any;
    expect(emails.totalResults).toBe(4);

    const bad = await scim(conn, "GET", `/Users?filter=${encodeURIComponent("userName eq")}`);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ scimType: "invalidFilter", status: "400" });
  });

  it("unfiltered totals (kept by triggers) follow creates and deletes, per connection", async () => {
    const other = await createConnection();
    await scim(other, "POST", "/Users", { schemas: [USER], userName: "elsewhere@example.com" });
    const ids = [];
    for (const n of ["t1", "t2", "t3"]) ids.push((await createUser(`${n}@example.com`)).id);
    await scim(conn, "DELETE", `/Users/${ids[1]}`);
    const total = async (c: TestConnection, path: string) => ((await (await scim(c, "GET", path)).json()) as any).totalResults;
    expect(await total(conn, "/Users?count=0")).toBe(2);
    expect(await total(conn, "/Users?startIndex=2&count=1")).toBe(2);
    expect(await total(other, "/Users?count=0")).toBe(1);
    await scim(conn, "POST", "/Groups", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"], displayName: "counted" });
    expect(await total(conn, "/Groups?count=0")).toBe(1);
    const counts = await env.DB.prepare("SELECT users, groups FROM directory_counts WHERE idp_id = ?").bind(conn.id).first();
    expect(counts).toEqual({ users: 2, groups: 1 });
  });

  it("POST /Users/.search takes a SearchRequest body", async () => {
    await createUser("search@example.com");
    const res = await scim(conn, "POST", "/Users/.search", {
      schemas: ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
      filter: 'userName sw "search"',
      attributes: ["userName"],
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).Resources.map((r: any) => r.userName)).toEqual(["search@example.com"]);
  });

  it("answers Entra's Test Connection probe (a filter on a random value) with an empty ListResponse", async () => {
    const res = await scim(conn, "GET", `/Users?filter=${encodeURIComponent(`userName eq "${crypto.randomUUID()}"`)}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ schemas: ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], totalResults: 0, startIndex: 1, itemsPerPage: 0, Resources: [] });
  });
});

describe("tenant isolation", () => {
  it("a connection's secret cannot read or write another connection's users", async () => {
    const victim = await createUser("victim@example.com");
    const attacker = await createConnection();
    // The attacker's own secret against the victim connection's URL: 401.
    expect((await scim({ ...conn, secret: attacker.secret }, "GET", `/Users/${victim.id}`)).status).toBe(401);
    // The attacker's own URL with the victim's id: 404, and lists never show it.
    expect((await scim(attacker, "GET", `/Users/${victim.id}`)).status).toBe(404);
    expect((await scim(attacker, "PATCH", `/Users/${victim.id}`, { schemas: [PATCH_OP], Operations: [{ op: "replace", path: "active", value: false }] })).status).toBe(404);
    expect((await scim(attacker, "DELETE", `/Users/${victim.id}`)).status).toBe(404);
    const list = (await (await scim(attacker, "GET", "/Users")).json()) as any;
    expect(list.totalResults).toBe(0);
    // Nor can it put the victim into one of its groups.
    const g = await scim(attacker, "POST", "/Groups", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"], displayName: "steal", members: [{ value: victim.id }] });
    expect(g.status).toBe(400);
    expect(await g.json()).toMatchObject({ scimType: "invalidValue" });
    const still = (await (await scim(conn, "GET", `/Users/${victim.id}`)).json()) as any;
    expect(still.active).toBe(true);
  });

  it("401 carries WWW-Authenticate and the SCIM error shape", async () => {
    const res = await scim({ ...conn, secret: "nope" }, "GET", "/Users");
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect(await res.json()).toMatchObject({ schemas: [ERROR], status: "401" });
  });
});
