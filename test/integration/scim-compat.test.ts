import { exports } from "cloudflare:workers";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { admin, createConnection, dumpDirectory, scim, type TestConnection } from "../helpers";

// SCIM under real IdP and test-suite traffic: trailing slashes, value-filtered names and filters,
// whole-extension PATCHes, `remove active`, and bodies that must be refused without writing anything.

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR = "urn:ietf:params:scim:api:messages:2.0:Error";

let conn: TestConnection;
beforeEach(async () => {
  conn = await createConnection();
});

type Json = Record<string, any>;

async function createUser(userName: string, extra: Json = {}): Promise<Json> {
  const res = await scim(conn, "POST", "/Users", {
    schemas: [USER],
    userName,
    emails: [
      { value: userName, type: "work", primary: true },
      { value: `home.${userName}`, type: "home" },
    ],
    active: true,
    ...extra,
  });
  expect(res.status).toBe(201);
  return (await res.json()) as Json;
}

/** Sends raw bytes as a SCIM body (for encodings JSON.stringify cannot produce). */
function sendBytes(method: string, path: string, bytes: Uint8Array): Promise<Response> {
  return exports.default.fetch(`${conn.scimBaseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${conn.secret}`, "content-type": "application/scim+json" },
    body: bytes,
  });
}

async function expectInvalidSyntax(res: Response, detail: RegExp): Promise<void> {
  expect(res.status).toBe(400);
  const body = (await res.json()) as Json;
  expect(body).toMatchObject({ schemas: [ERROR], status: "400", scimType: "invalidSyntax" });
  expect(body.detail).toMatch(detail);
}

describe("a trailing slash is the bare path (no redirect: IdPs do not follow one on POST/PATCH)", () => {
  it("POST /Users/, GET /Users/?filter=…, GET/PATCH/PUT/DELETE /Users/<id>/", async () => {
    const created = await scim(conn, "POST", "/Users/", { schemas: [USER], userName: "slash@example.com", active: true });
    expect(created.status).toBe(201);
    const user = (await created.json()) as Json;
    expect(created.headers.get("location")).toBe(`${conn.scimBaseUrl}/Users/${user.id}`);

    const listed = await scim(conn, "GET", `/Users/?filter=${encodeURIComponent('userName eq "slash@example.com"')}`);
    expect(listed.status).toBe(200);
    expect(((await listed.json()) as Json).Resources.map((r: Json) => r.id)).toEqual([user.id]);

    expect((await scim(conn, "GET", `/Users/${user.id}/`)).status).toBe(200);
    const patched = await scim(conn, "PATCH", `/Users/${user.id}/`, { schemas: [PATCH_OP], Operations: [{ op: "replace", path: "displayName", value: "Slash" }] });
    expect(patched.status).toBe(200);
    expect(((await patched.json()) as Json).displayName).toBe("Slash");
    expect((await scim(conn, "PUT", `/Users/${user.id}/`, { schemas: [USER], userName: "slash@example.com", active: true })).status).toBe(200);
    expect((await scim(conn, "DELETE", `/Users/${user.id}/`)).status).toBe(204);
    expect((await scim(conn, "GET", `/Users/${user.id}`)).status).toBe(404);

    // The provisioning logger (a middleware of the mounted sub-app) sees these requests as USER requests.
    await vi.waitFor(async () => {
      const res = await admin("GET", `/api/v1/access/logs/scim/updates?idp_id=${conn.id}&direction=asc`);
      const rows = ((await res.json()) as { result: Json[] }).result;
      expect(rows.map((r) => `${r.request_method} ${r.resource_type} ${r.status}`)).toEqual([
        "POST USER SUCCESS",
        "GET USER SUCCESS",
        "GET USER SUCCESS",
        "PATCH USER SUCCESS",
        "PUT USER SUCCESS",
        "DELETE USER SUCCESS",
        "GET USER FAILURE",
      ]);
      expect(rows[0]!.cf_resource_id).toBe(user.id);
    });
  });

  it("POST /Groups/, GET /Groups/, POST /Groups/.search/, discovery with a slash", async () => {
    const created = await scim(conn, "POST", "/Groups/", { schemas: [GROUP], displayName: "Slashers" });
    expect(created.status).toBe(201);
    const group = (await created.json()) as Json;
    const listed = await scim(conn, "GET", "/Groups/");
    expect(listed.status).toBe(200);
    expect(((await listed.json()) as Json).Resources.map((r: Json) => r.id)).toEqual([group.id]);
    expect((await scim(conn, "GET", `/Groups/${group.id}/`)).status).toBe(200);
    const search = await scim(conn, "POST", "/Groups/.search/", { schemas: ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], filter: 'displayName eq "slashers"' });
    expect(search.status).toBe(200);
    expect((await scim(conn, "GET", "/ServiceProviderConfig/")).status).toBe(200);
  });

  it("still authenticates and isolates connections with a trailing slash", async () => {
    const user = await createUser("isolated@example.com");
    const other = await createConnection();
    expect((await scim(other, "GET", `/Users/${user.id}/`)).status).toBe(404);
    expect((await scim({ ...conn, secret: "wrong" }, "GET", "/Users/")).status).toBe(401);
  });
});

describe("value filters in attributes and filter (Entra ID, Microsoft's SCIM test collection)", () => {
  it('filter=emails[type eq "work"].value eq "…" matches the user whose WORK email it is', async () => {
    const ann = await createUser("ann@example.com");
    await createUser("bob@example.com", { emails: [{ value: "ann@example.com", type: "home" }] });
    const res = await scim(conn, "GET", `/Users?filter=${encodeURIComponent('emails[type eq "work"].value eq "ANN@example.com"')}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Json;
    expect(body.totalResults).toBe(1);
    expect(body.Resources[0].id).toBe(ann.id);
  });

  it('attributes=emails[type eq "work"] returns the matching email only; excludedAttributes removes it', async () => {
    const ann = await createUser("ann@example.com");
    const one = await scim(conn, "GET", `/Users/${ann.id}?attributes=${encodeURIComponent('emails[type eq "work"]')}`);
    expect(one.status).toBe(200);
    expect(await one.json()).toEqual({ schemas: [USER], id: ann.id, emails: [{ value: "ann@example.com", type: "work", primary: true }] });

    const list = await scim(conn, "GET", `/Users?attributes=${encodeURIComponent('emails[value eq "home.ann@example.com"].value')}`);
    expect(((await list.json()) as Json).Resources).toEqual([{ schemas: [USER], id: ann.id, emails: [{ value: "home.ann@example.com" }] }]);

    const excluded = (await (await scim(conn, "GET", `/Users/${ann.id}?excludedAttributes=${encodeURIComponent('emails[type eq "work"]')}`)).json()) as Json;
    expect(excluded.emails).toEqual([{ value: "home.ann@example.com", type: "home" }]);
    expect(excluded.userName).toBe("ann@example.com");
  });
});

describe("PATCH of the enterprise extension as a whole (scim2-tester)", () => {
  it.each(["add", "replace"])("%s with path = the extension URN and a schemas member in the value", async (op) => {
    const ann = await createUser("ann@example.com");
    const res = await scim(conn, "PATCH", `/Users/${ann.id}`, {
      schemas: [PATCH_OP],
      Operations: [{ op, path: ENT, value: { schemas: [ENT], employeeNumber: "42", department: "Security" } }],
    });
    expect(res.status).toBe(200);
    const got = (await (await scim(conn, "GET", `/Users/${ann.id}`)).json()) as Json;
    expect(got[ENT]).toEqual({ employeeNumber: "42", department: "Security" });
    expect(got.schemas).toEqual([USER, ENT]);
  });

  it("path-less, with schemas inside the extension object", async () => {
    const ann = await createUser("ann@example.com");
    const res = await scim(conn, "PATCH", `/Users/${ann.id}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: "replace", value: { [ENT]: { schemas: [ENT], costCenter: "CC-7" } } }],
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as Json)[ENT]).toEqual({ costCenter: "CC-7" });
  });
});

describe("PATCH remove active fails closed (RFC 7643 §4.1.1: the provider defines active)", () => {
  it("deactivates: the response and a later GET say active false", async () => {
    const ann = await createUser("ann@example.com");
    const res = await scim(conn, "PATCH", `/Users/${ann.id}`, { schemas: [PATCH_OP], Operations: [{ op: "remove", path: "active" }] });
    expect(res.status).toBe(200);
    expect(((await res.json()) as Json).active).toBe(false);
    expect(((await (await scim(conn, "GET", `/Users/${ann.id}`)).json()) as Json).active).toBe(false);
    const inactive = await scim(conn, "GET", `/Users?filter=${encodeURIComponent("active eq false")}`);
    expect(((await inactive.json()) as Json).Resources.map((r: Json) => r.id)).toEqual([ann.id]);
  });

  it("never reactivates a deactivated user", async () => {
    const ann = await createUser("ann@example.com", { active: false });
    const res = await scim(conn, "PATCH", `/Users/${ann.id}`, { schemas: [PATCH_OP], Operations: [{ op: "remove", path: "active" }] });
    expect(res.status).toBe(200);
    expect(((await (await scim(conn, "GET", `/Users/${ann.id}`)).json()) as Json).active).toBe(false);
  });
});

describe("bodies refused with 400 invalidSyntax, nothing written", () => {
  let ann: Json;
  let group: Json;
  beforeEach(async () => {
    ann = await createUser("ann@example.com");
    group = (await (await scim(conn, "POST", "/Groups", { schemas: [GROUP], displayName: "Eng" })).json()) as Json;
  });

  const encoder = new TextEncoder();
  const cases: [string, string, () => string, string | Uint8Array, RegExp][] = [
    ["duplicate member names", "POST", () => "/Users", '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a@example.com","userName":"b@example.com"}', /"userName" twice/],
    ["duplicates differing only in case", "POST", () => "/Users", '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a@example.com","USERNAME":"b@example.com"}', /"USERNAME" twice/],
    ["duplicates inside an extension object", "PUT", () => `/Users/${ann.id}`, `{"schemas":["${USER}"],"userName":"ann@example.com","${ENT}":{"department":"A","Department":"B"}}`, /"Department" twice/],
    ["duplicates inside Operations[i].value", "PATCH", () => `/Users/${ann.id}`, `{"schemas":["${PATCH_OP}"],"Operations":[{"op":"replace","value":{"active":true,"active":false}}]}`, /"active" twice/],
    ["duplicate op members", "PATCH", () => `/Groups/${group.id}`, `{"schemas":["${PATCH_OP}"],"Operations":[{"op":"replace","path":"displayName","value":"X","Value":"Y"}]}`, /"Value" twice/],
    ["invalid UTF-8 (a lone continuation byte)", "POST", () => "/Users", new Uint8Array([...encoder.encode('{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bad'), 0x80, ...encoder.encode('@example.com"}')]), /not valid UTF-8/],
    ["invalid UTF-8 (an overlong encoding)", "PATCH", () => `/Users/${ann.id}`, new Uint8Array([...encoder.encode(`{"schemas":["${PATCH_OP}"],"Operations":[{"op":"replace","path":"displayName","value":"`), 0xc0, 0xaf, ...encoder.encode('"}]}')]), /not valid UTF-8/],
    ["invalid UTF-8 (a truncated sequence at the end of a string)", "PUT", () => `/Groups/${group.id}`, new Uint8Array([...encoder.encode(`{"schemas":["${GROUP}"],"displayName":"Eng`), 0xe2, 0x82, ...encoder.encode('"}')]), /not valid UTF-8/],
    ["two byte order marks", "POST", () => "/Users", new Uint8Array([0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf, ...encoder.encode('{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bom2@example.com"}')]), /not valid JSON/],
  ];

  it.each(cases)("%s (%s)", async (_title, method, path, body, detail) => {
    const before = await dumpDirectory();
    const res = typeof body === "string" ? await scim(conn, method, path(), body) : await sendBytes(method, path(), body);
    await expectInvalidSyntax(res, detail);
    expect(await dumpDirectory()).toEqual(before);
  });

  it("a duplicate inside a /.search body is refused too", async () => {
    const res = await scim(conn, "POST", "/Users/.search", '{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"userName pr","FILTER":"id pr"}');
    await expectInvalidSyntax(res, /"FILTER" twice/);
  });

  it("the same name in sibling objects is not a duplicate", async () => {
    const res = await scim(conn, "POST", "/Users", {
      schemas: [USER],
      userName: "siblings@example.com",
      emails: [{ value: "a@example.com", type: "work" }, { value: "b@example.com", type: "home" }],
      name: { givenName: "S", familyName: "S" },
      [ENT]: { manager: { value: "m-1" } },
    });
    expect(res.status).toBe(201);
  });

  it("one leading UTF-8 byte order mark is ignored (RFC 8259 §8.1: MAY ignore); non-ASCII text round-trips", async () => {
    const json = `{"schemas":["${USER}"],"userName":"bom@example.com","displayName":"Zoë 😀"}`;
    const res = await sendBytes("POST", "/Users", new Uint8Array([0xef, 0xbb, 0xbf, ...encoder.encode(json)]));
    expect(res.status).toBe(201);
    const created = (await res.json()) as Json;
    expect(created.displayName).toBe("Zoë 😀");
    expect(((await (await scim(conn, "GET", `/Users/${created.id}`)).json()) as Json).displayName).toBe("Zoë 😀");
  });
});
