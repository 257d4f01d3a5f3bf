import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { createConnection, dumpDirectory, scim, type TestConnection } from "../helpers";

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

let conn: TestConnection;
let users: string[];

beforeEach(async () => {
  conn = await createConnection();
  users = [];
  for (let i = 0; i < 5; i++) {
    const res = await scim(conn, "POST", "/Users", { schemas: [USER], userName: `member${i}@example.com`, displayName: `Member ${i}` });
    users.push(((await res.json()) as { id: string }).id);
  }
});

async function memberIds(groupId: string): Promise<string[]> {
  const r = await env.DB.prepare("SELECT user_id FROM group_members WHERE group_id = ? ORDER BY user_id").bind(groupId).all<{ user_id: string }>();
  return r.results.map((x) => x.user_id);
}

async function createGroup(displayName: string, members: string[] = []) {
  const res = await scim(conn, "POST", "/Groups", { schemas: [GROUP], displayName, members: members.map((value) => ({ value })) });
  expect(res.status).toBe(201);
  return (await res.json()) as Record<string, any>;
}

const patch = (groupId: string, Operations: unknown[], headers: Record<string, string> = {}) =>
  scim(conn, "PATCH", `/Groups/${groupId}`, { schemas: [PATCH_OP], Operations }, headers);

describe("SCIM /Groups", () => {
  it("creates a group with members stored in the join table and returns them", async () => {
    const g = await createGroup("Engineering", [users[0]!, users[1]!]);
    expect(g.members.map((m: any) => m.value).sort()).toEqual([users[0], users[1]].sort());
    expect(g.members[0]).toMatchObject({ type: "User", $ref: expect.stringContaining("/Users/"), display: expect.stringMatching(/^Member/) });
    expect(await memberIds(g.id)).toEqual([users[0], users[1]].sort());
    const stored = await env.DB.prepare("SELECT resource FROM groups WHERE id = ?").bind(g.id).first<string>("resource");
    expect(stored).not.toContain("members");
  });

  it("users list their groups (read-only `groups`)", async () => {
    const g = await createGroup("risky", [users[0]!]);
    const u = (await (await scim(conn, "GET", `/Users/${users[0]}`)).json()) as any;
    expect(u.groups).toEqual([{ value: g.id, display: "risky", $ref: `${conn.scimBaseUrl}/Groups/${g.id}`, type: "direct" }]);
  });

  it("excludedAttributes=members omits members (what Entra and Okta send)", async () => {
    const g = await createGroup("big", users);
    const one = (await (await scim(conn, "GET", `/Groups/${g.id}?excludedAttributes=members`)).json()) as any;
    expect(one).not.toHaveProperty("members");
    expect(one.displayName).toBe("big");
    const list = (await (await scim(conn, "GET", `/Groups?excludedAttributes=members&filter=${encodeURIComponent('displayName eq "BIG"')}`)).json()) as any;
    expect(list.totalResults).toBe(1);
    expect(list.Resources[0]).not.toHaveProperty("members");
  });

  it.each([
    ["add (RFC)", (u: string[]) => [{ op: "add", path: "members", value: [{ value: u[2] }, { value: u[3] }] }], [0, 1, 2, 3]],
    ["Add (Entra casing)", (u: string[]) => [{ op: "Add", path: "members", value: [{ value: u[2] }] }], [0, 1, 2]],
    ["remove by filter path", (u: string[]) => [{ op: "remove", path: `members[value eq "${u[0]}"]` }], [1]],
    ["Remove with a value array (Entra)", (u: string[]) => [{ op: "Remove", path: "members", value: [{ value: u[1] }] }], [0]],
    ["remove all", () => [{ op: "remove", path: "members" }], []],
    ["replace all", (u: string[]) => [{ op: "replace", path: "members", value: [{ value: u[4] }] }], [4]],
    ["re-adding an existing member is a no-op", (u: string[]) => [{ op: "add", path: "members", value: [{ value: u[0] }] }], [0, 1]],
  ])("PATCH %s", async (_name, ops, expected) => {
    const g = await createGroup("g", [users[0]!, users[1]!]);
    const res = await patch(g.id, ops(users));
    // RFC 7644 §3.5.2: 204 unless the request asks for attributes (Entra ID's documented exchange).
    expect(res.status).toBe(204);
    expect(await memberIds(g.id)).toEqual(expected.map((i) => users[i]!).sort());
  });

  it("adding a member that doesn't exist is 400 invalidValue and writes nothing", async () => {
    const g = await createGroup("strict", [users[0]!]);
    const before = await dumpDirectory();
    const res = await patch(g.id, [
      { op: "add", path: "members", value: [{ value: users[1] }] },
      { op: "add", path: "members", value: [{ value: "no-such-user" }] },
    ]);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ scimType: "invalidValue", detail: expect.stringContaining("no-such-user") });
    expect(await dumpDirectory()).toEqual(before);
  });

  it.each([
    ["PATCH add", (g: string, other: string) => patch(g, [{ op: "add", path: "members", value: [{ value: users[1] }, { value: other }] }])],
    ["PUT", (g: string, other: string) => scim(conn, "PUT", `/Groups/${g}`, { schemas: [GROUP], displayName: "tenant", members: [{ value: users[1] }, { value: other }] })],
    ["POST", (_g: string, other: string) => scim(conn, "POST", "/Groups", { schemas: [GROUP], displayName: "tenant 2", members: [{ value: other }] })],
  ])("%s with another connection's user is 400 invalidValue and writes nothing", async (_name, send) => {
    const otherConn = await createConnection();
    const other = ((await (await scim(otherConn, "POST", "/Users", { schemas: [USER], userName: "elsewhere@example.com" })).json()) as { id: string }).id;
    const g = await createGroup("tenant", [users[0]!]);
    const before = await dumpDirectory();
    const outbox = await env.DB.prepare("SELECT count(*) AS n FROM identity_outbox").first<number>("n");
    const res = await send(g.id, other);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ scimType: "invalidValue", detail: expect.stringContaining(other) });
    expect(await dumpDirectory()).toEqual(before);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM identity_outbox").first<number>("n")).toBe(outbox);
  });

  it("renames (Okta's path-less replace with id) and enforces displayName uniqueness", async () => {
    const g = await createGroup("Old name");
    await createGroup("Taken");
    const res = await patch(g.id, [{ op: "replace", value: { id: g.id, displayName: "New name" } }]);
    expect(res.status).toBe(204);
    expect(((await (await scim(conn, "GET", `/Groups/${g.id}`)).json()) as any).displayName).toBe("New name");
    const clash = await patch(g.id, [{ op: "replace", path: "displayName", value: "TAKEN" }]);
    expect(clash.status).toBe(409);
    expect(await clash.json()).toMatchObject({ scimType: "uniqueness" });
    const dup = await scim(conn, "POST", "/Groups", { schemas: [GROUP], displayName: "taken" });
    expect(dup.status).toBe(409);
  });

  it("PUT replaces attributes and the member list (Okta group push)", async () => {
    const g = await createGroup("put", [users[0]!, users[1]!]);
    const res = await scim(conn, "PUT", `/Groups/${g.id}`, { schemas: [GROUP], displayName: "put renamed", members: [{ value: users[2] }, { value: users[3] }] });
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).displayName).toBe("put renamed");
    expect(await memberIds(g.id)).toEqual([users[2]!, users[3]!].sort());
  });

  it("concurrent PATCHes to one group lose no member", async () => {
    const g = await createGroup("race");
    const results = await Promise.all(users.map((u) => patch(g.id, [{ op: "add", path: "members", value: [{ value: u }] }])));
    expect(results.map((r) => r.status)).toEqual(users.map(() => 204));
    expect(await memberIds(g.id)).toEqual([...users].sort());
  });

  it("concurrent renames and member changes both land", async () => {
    const g = await createGroup("mixed");
    const [a, b] = await Promise.all([
      patch(g.id, [{ op: "replace", path: "displayName", value: "mixed 2" }]),
      patch(g.id, [{ op: "add", path: "members", value: [{ value: users[0] }] }]),
    ]);
    expect([a.status, b.status]).toEqual([204, 204]);
    const now = (await (await scim(conn, "GET", `/Groups/${g.id}`)).json()) as any;
    expect(now.displayName).toBe("mixed 2");
    expect(now.members.map((m: any) => m.value)).toEqual([users[0]]);
  });

  it("DELETE removes the group and its memberships, not the users", async () => {
    const g = await createGroup("bye", users);
    expect((await scim(conn, "DELETE", `/Groups/${g.id}`)).status).toBe(204);
    expect((await scim(conn, "GET", `/Groups/${g.id}`)).status).toBe(404);
    expect(await memberIds(g.id)).toEqual([]);
    expect((await scim(conn, "GET", `/Users/${users[0]}`)).status).toBe(200);
  });
});
