import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { createConnection, dumpDirectory, scim, type TestConnection } from "../helpers";

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

let conn: TestConnection;

async function createUsers(n: number, prefix: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await scim(conn, "POST", "/Users", { schemas: [USER], userName: `${prefix}${i}@example.com` });
    ids.push(((await res.json()) as { id: string }).id);
  }
  return ids;
}

async function createGroup(displayName: string, members: string[] = []): Promise<string> {
  const res = await scim(conn, "POST", "/Groups", { schemas: [GROUP], displayName, members: members.map((value) => ({ value })) });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

async function memberIds(groupId: string): Promise<string[]> {
  const r = await env.DB.prepare("SELECT user_id FROM group_members WHERE group_id = ? ORDER BY user_id").bind(groupId).all<{ user_id: string }>();
  return r.results.map((x) => x.user_id);
}

const patch = (groupId: string, Operations: unknown[], headers: Record<string, string> = {}) =>
  scim(conn, "PATCH", `/Groups/${groupId}`, { schemas: [PATCH_OP], Operations }, headers);
const add = (groupId: string, userId: string) => patch(groupId, [{ op: "add", path: "members", value: [{ value: userId }] }]);
const remove = (groupId: string, userId: string) => patch(groupId, [{ op: "remove", path: `members[value eq "${userId}"]` }]);

beforeEach(async () => {
  conn = await createConnection();
});

describe("concurrent group writes without If-Match: every acknowledged change lands", () => {
  it("50 concurrent member adds all succeed and leave 50 members", { timeout: 60_000 }, async () => {
    const users = await createUsers(50, "add");
    const g = await createGroup("fifty");
    const results = await Promise.all(users.map((u) => add(g, u)));
    expect(results.map((r) => r.status)).toEqual(users.map(() => 204));
    expect(await memberIds(g)).toEqual([...users].sort());
    // Each member add bumped the version once: no read-modify-write lost one.
    const version = await env.DB.prepare("SELECT version FROM groups WHERE id = ?").bind(g).first<number>("version");
    expect(version).toBe(51);
  });

  it("concurrent adds and removes of disjoint members", { timeout: 60_000 }, async () => {
    const staying = await createUsers(10, "stay");
    const leaving = await createUsers(15, "leave");
    const joining = await createUsers(15, "join");
    const g = await createGroup("churn", [...staying, ...leaving]);
    const results = await Promise.all([...leaving.map((u) => remove(g, u)), ...joining.map((u) => add(g, u))]);
    expect(results.every((r) => r.status === 204)).toBe(true);
    expect(await memberIds(g)).toEqual([...staying, ...joining].sort());
  });

  it("a concurrent rename and member adds both land (the rename retries with a fresh read)", { timeout: 60_000 }, async () => {
    const users = await createUsers(20, "mix");
    const g = await createGroup("before");
    const results = await Promise.all([
      ...users.slice(0, 10).map((u) => add(g, u)),
      patch(g, [{ op: "replace", path: "displayName", value: "after" }]),
      ...users.slice(10).map((u) => add(g, u)),
    ]);
    expect(results.map((r) => r.status)).toEqual(results.map(() => 204));
    const now = (await (await scim(conn, "GET", `/Groups/${g}`)).json()) as { displayName: string; members: { value: string }[] };
    expect(now.displayName).toBe("after");
    expect(now.members.map((m) => m.value).sort()).toEqual([...users].sort());
  });
});

describe("If-Match on group writes", () => {
  it("a stale If-Match is 412 and writes nothing (members-only PATCH too)", async () => {
    const [a, b] = await createUsers(2, "etag");
    const g = await createGroup("etag", [a!]);
    const current = (await scim(conn, "GET", `/Groups/${g}`)).headers.get("etag")!;
    expect((await add(g, b!)).status).toBe(204); // someone else's change moves the version on
    const before = await dumpDirectory();
    const outbox = await env.DB.prepare("SELECT count(*) AS n FROM identity_outbox").first<number>("n");
    const stale = await patch(g, [{ op: "remove", path: `members[value eq "${a}"]` }], { "if-match": current });
    expect(stale.status).toBe(412);
    expect(await dumpDirectory()).toEqual(before);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM identity_outbox").first<number>("n")).toBe(outbox);
    const rename = await patch(g, [{ op: "replace", path: "displayName", value: "x" }], { "if-match": current });
    expect(rename.status).toBe(412);
    expect(await dumpDirectory()).toEqual(before);
  });

  it("a current If-Match applies and answers the new ETag", async () => {
    const [a] = await createUsers(1, "etag-ok");
    const g = await createGroup("etag-ok");
    const current = (await scim(conn, "GET", `/Groups/${g}`)).headers.get("etag")!;
    const res = await add(g, a!);
    expect(res.status).toBe(204);
    expect(res.headers.get("etag")).toBe('W/"2"');
    expect(current).toBe('W/"1"');
  });
});

describe("PATCH /Groups responses (RFC 7644 §3.5.2)", () => {
  it("answers 204 with no body unless attributes are asked for", async () => {
    const [a, b] = await createUsers(2, "resp");
    const g = await createGroup("resp", [a!]);
    const res = await add(g, b!);
    expect(res.status).toBe(204);
    expect(await res.text()).toBe("");
  });

  it.each([
    ["attributes=displayName", (body: Record<string, unknown>) => expect(body).not.toHaveProperty("members")],
    ["excludedAttributes=members", (body: Record<string, unknown>) => expect(body).not.toHaveProperty("members")],
    ["attributes=members", (body: Record<string, unknown>) => expect((body.members as unknown[]).length).toBe(2)],
  ])("answers 200 with the resource when the request has %s", async (query, check) => {
    const [a, b] = await createUsers(2, `q${query.length}`);
    const g = await createGroup(`resp-${query}`, [a!]);
    const res = await scim(conn, "PATCH", `/Groups/${g}?${query}`, { schemas: [PATCH_OP], Operations: [{ op: "add", path: "members", value: [{ value: b }] }] });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body.id).toBe(g);
    check(body);
  });

  it("a 204 PATCH is logged with the group's name and id", async () => {
    const [a] = await createUsers(1, "log");
    const g = await createGroup("logged group");
    expect((await add(g, a!)).status).toBe(204);
    await expect
      .poll(async () =>
        env.DB.prepare("SELECT resource_group_name, cf_resource_id, http_status FROM provisioning_log WHERE cf_resource_id = ? AND request_method = 'PATCH'").bind(g).first(),
      )
      .toMatchObject({ resource_group_name: "logged group", cf_resource_id: g, http_status: 204 });
  });
});
