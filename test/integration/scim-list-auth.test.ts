import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { presentedHash } from "../../src/auth/scim-secret";
import { readConfig } from "../../src/config";
import type { DirectoryContext } from "../../src/directory/context";
import { listRows } from "../../src/directory/list";
import { authRidesWithFirstRead } from "../../src/directory/scim-auth";
import { ScimAuthGate } from "../../src/directory/scim-gate";
import { groupsColumnSql } from "../../src/directory/user-store";
import type { UserRow } from "../../src/directory/user-record";
import { parseListParams } from "../../src/scim/list-params";
import { badCredentials, checkSession, createConnection, dumpDirectory, openSession, provisionUser, recordingD1, scim, type TestConnection } from "../helpers";

const GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ERROR = "urn:ietf:params:scim:api:messages:2.0:Error";
const q = encodeURIComponent;

async function createGroup(conn: TestConnection, displayName: string, members: string[]): Promise<string> {
  const res = await scim(conn, "POST", "/Groups", { schemas: [GROUP], displayName, members: members.map((value) => ({ value })) });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

describe("authRidesWithFirstRead: list pages whose work is bounded ride, the rest authenticate first", () => {
  const base = "https://edge.test/populations/p1/scim/v2";
  it.each([
    // First pages and cursor pages in the default (indexed) order: one index range of ≤ maxResults + 1 rows.
    ["GET", "/Users", true],
    ["GET", "/Users?startIndex=1&count=100", true],
    ["GET", "/Users?count=100&sortOrder=descending", true],
    ["GET", "/Users?cursor=&count=100", true],
    ["GET", "/Users?cursor=some-opaque-cursor&count=100", true],
    ["GET", `/Users?cursor=&filter=${q('userName eq "a@b.c"')}`, true],
    ["GET", "/Groups?excludedAttributes=members", true],
    ["GET", "/Groups?cursor=&attributes=displayName", true],
    // Work an unauthenticated caller could make grow with the directory.
    ["GET", "/Users?startIndex=2&count=100", false],
    ["GET", "/Users?startIndex=19901&count=100", false],
    ["GET", "/Users?count=100&sortBy=userName", false],
    ["GET", "/Users?cursor=&sortBy=name.givenName", false],
    ["GET", `/Users?filter=${q('userName sw "u"')}`, false],
    ["GET", `/Users?cursor=&filter=${q('emails.value co "com"')}`, false],
    ["GET", `/Users?filter=${q('emails.value co "user0012345@"')}`, false],
    ["GET", `/Users?filter=${q('displayName ew "x"')}`, false],
    ["GET", `/Users?filter=${q('title eq "x"')}`, false],
    // A User's displayName is compared lower-cased: no index serves it (a Group's is indexed lower-cased).
    ["GET", `/Users?filter=${q('displayName eq "Ann"')}`, false],
    ["GET", `/Groups?excludedAttributes=members&filter=${q('displayName eq "Sales"')}`, true],
    ["GET", `/Groups?cursor=&attributes=id&filter=${q('externalId eq "x"')}`, true],
    // With members: the named group's members would be read before the secret is compared.
    ["GET", `/Groups?filter=${q('displayName eq "Sales"')}`, false],
    ["GET", "/Groups", false], // members of up to maxResults groups
    ["GET", "/Groups?cursor=", false],
    // Invalid requests are refused only after the check (their 400 reaches only the secret's holder).
    ["GET", "/Users?cursor=&startIndex=1", false],
    ["GET", "/Users?count=x", false],
    ["GET", "/Users?attributes=id&excludedAttributes=groups", false],
    ["POST", "/Users/.search", false],
  ])("authRidesWithFirstRead(%s %s) = %s", (method, path, expected) => {
    expect(authRidesWithFirstRead(method, new URL(`${base}${path}`))).toBe(expected);
  });
});

/** A riding list request and what the right secret gets for it. */
const RIDING_LISTS: [string, (u: { userName: string }) => string, number][] = [
  ["first page", () => "/Users", 200],
  ["first page, startIndex=1", () => "/Users?startIndex=1&count=100", 200],
  ["first cursor page", () => "/Users?cursor=&count=10", 200],
  // A cursor is opened before the page query; its 400 still reaches only the secret's holder.
  ["a cursor page with a forged cursor", () => "/Users?cursor=bm90LWEtY3Vyc29y&count=10", 400],
  ["filtered cursor page", (u) => `/Users?cursor=&filter=${q(`userName eq "${u.userName}"`)}`, 200],
  ["groups without members", () => "/Groups?excludedAttributes=members", 200],
];

describe("a riding list page with a wrong secret gets 401 and no data", () => {
  it.each(RIDING_LISTS)("%s", async (_name, path, status) => {
    const a = await createConnection();
    const b = await createConnection();
    const user = await provisionUser(a);
    const group = await createGroup(a, `g-${crypto.randomUUID().slice(0, 8)}`, [user.id]);
    const session = await openSession(user.id);
    const before = await dumpDirectory();
    expect(authRidesWithFirstRead("GET", new URL(`${a.scimBaseUrl}${path(user)}`))).toBe(true);
    for (const [label, conn, headers] of badCredentials(a, b)) {
      const res = await scim(conn, "GET", path(user), undefined, headers);
      const text = await res.text();
      expect(res.status, label).toBe(401);
      expect(res.headers.get("www-authenticate"), label).toMatch(/^Bearer/);
      expect(JSON.parse(text), label).toMatchObject({ schemas: [ERROR], status: "401" });
      expect(text, label).not.toContain(user.userName);
      expect(text, label).not.toContain(user.id);
      expect(text, label).not.toContain(group);
      expect(text, label).not.toContain("totalResults");
    }
    expect(await dumpDirectory()).toEqual(before);
    expect((await checkSession(user.id, session)).status).toBe("valid");
    // The right secret reads the page.
    expect((await scim(a, "GET", path(user))).status).toBe(status);
  });
});

async function gatedContext(conn: TestConnection, secret: string, db: D1Database): Promise<DirectoryContext> {
  const gate = new ScimAuthGate(db, conn.id, await presentedHash(secret));
  return { env: gate.env(env), db: gate.db, idp: gate.idp, scimBase: conn.scimBaseUrl, config: readConfig(env), actor: `scim:${conn.id}` };
}

const params = (query: string) => {
  const p = parseListParams(new URLSearchParams(query), { maxResults: 100 });
  if (!p.ok) throw p.error;
  return p.value;
};

describe("a list page with its users' groups is one round trip, the check included", () => {
  it("page + groups column + total in one batch with the connection row; the filter runs once", async () => {
    const conn = await createConnection();
    const users = [await provisionUser(conn), await provisionUser(conn), await provisionUser(conn)];
    // Groups named so that their order (display_name_lower, id) differs from creation order.
    const zeta = await createGroup(conn, "Zeta", [users[0]!.id, users[1]!.id]);
    const alpha = await createGroup(conn, "alpha", [users[0]!.id]);
    const { db, calls } = recordingD1();
    const ctx = await gatedContext(conn, conn.secret, db);
    const page = await listRows<UserRow>(ctx, "User", params("cursor=&count=2"), undefined, groupsColumnSql("u"));
    // One batch: the connection row, the page (its groups a column of it), the total.
    expect(calls).toEqual(["batch:3"]);
    expect(page.rows.map((r) => r.id)).toEqual([users[0]!.id, users[1]!.id]);
    expect(page.totalResults).toBe(3);
    const groupsOf = (r: UserRow) => JSON.parse((r as unknown as { scim_groups: string }).scim_groups) as [string, string][];
    expect(groupsOf(page.rows[0]!)).toEqual([[alpha, "alpha"], [zeta, "Zeta"]]);
    expect(groupsOf(page.rows[1]!)).toEqual([[zeta, "Zeta"]]);

    // A filtered first page: the page statement alone (the filter is not re-run to name the page's users).
    const filtered = await recordingD1();
    const ctx2 = await gatedContext(conn, conn.secret, filtered.db);
    const one = await listRows<UserRow>(ctx2, "User", params(`filter=${q(`emails.value co "${users[2]!.userName.slice(0, 10)}"`)}`), undefined, groupsColumnSql("u"));
    expect(filtered.calls).toEqual(["batch:2"]);
    expect(one.rows.map((r) => r.id)).toEqual([users[2]!.id]);
    expect(groupsOf(one.rows[0]!)).toEqual([]);
  });

  it("with a wrong secret the same batch yields no rows: 401", async () => {
    const conn = await createConnection();
    await provisionUser(conn);
    const { db, calls } = recordingD1();
    const ctx = await gatedContext(conn, "not-the-secret", db);
    await expect(listRows<UserRow>(ctx, "User", params("cursor=&count=2"), undefined, groupsColumnSql("u"))).rejects.toMatchObject({ status: 401 });
    expect(calls).toEqual(["batch:3"]);
  });
});

describe("users' groups in list responses (one column of the page, any paging)", () => {
  it("index pages, cursor pages and filtered pages carry each user's groups in display-name order", async () => {
    const conn = await createConnection();
    const u1 = await provisionUser(conn);
    const u2 = await provisionUser(conn);
    const beta = await createGroup(conn, "Beta", [u1.id, u2.id]);
    const alpha = await createGroup(conn, "alpha", [u1.id]);
    type Listed = { Resources: { id: string; groups?: { value: string; display: string; $ref?: string }[] }[] };
    const groupsIn = async (path: string) => {
      const res = await scim(conn, "GET", path);
      expect(res.status).toBe(200);
      const body = (await res.json()) as Listed;
      return Object.fromEntries(body.Resources.map((r) => [r.id, (r.groups ?? []).map((g) => [g.value, g.display])]));
    };
    const expected = { [u1.id]: [[alpha, "alpha"], [beta, "Beta"]], [u2.id]: [[beta, "Beta"]] };
    expect(await groupsIn("/Users")).toEqual(expected);
    expect(await groupsIn("/Users?cursor=&count=10")).toEqual(expected);
    expect(await groupsIn("/Users?startIndex=2&count=1")).toEqual({ [u2.id]: expected[u2.id] });
    expect(await groupsIn("/Users?sortBy=userName&sortOrder=descending")).toEqual(expected);
    expect(await groupsIn(`/Users?filter=${q(`userName eq "${u1.userName}"`)}`)).toEqual({ [u1.id]: expected[u1.id] });
    expect(await groupsIn(`/Users?filter=${q(`emails.value co "${u2.userName.slice(0, 10)}"`)}`)).toEqual({ [u2.id]: expected[u2.id] });
    // Not asked for: no groups attribute (and no groups column).
    const bare = (await (await scim(conn, "GET", "/Users?excludedAttributes=groups")).json()) as Listed;
    expect(bare.Resources.every((r) => r.groups === undefined && !("scim_groups" in r))).toBe(true);
  });
});
