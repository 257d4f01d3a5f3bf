// RFC 9865 cursor pagination over HTTP, in workerd against D1: walks in both directions, filters
// (including the emails semi-joins), sortBy with NULL keys, concurrent inserts, refused cursors.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { admin, createConnection, scim, type TestConnection } from "../helpers";

// Walks make dozens of requests each; on a loaded 2-core CI box the default 5 s is too tight.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 60_000 });

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

interface Page {
  totalResults: number;
  itemsPerPage: number;
  startIndex?: number;
  nextCursor?: string;
  previousCursor?: string;
  Resources: { id: string; userName?: string; displayName?: string }[];
}

async function getPage(conn: TestConnection, resource: string, query: string): Promise<Page> {
  const res = await scim(conn, "GET", `/${resource}?${query}`);
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as Page;
}

const qs = (o: Record<string, string | number | undefined>) =>
  Object.entries(o)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`)
    .join("&");

/** The reference order: index paging (RFC 7644 §3.4.2.4) over the same query. */
async function indexOrder(conn: TestConnection, resource: string, base: Record<string, string | undefined>): Promise<string[]> {
  const ids: string[] = [];
  for (let start = 1; ; start += 200) {
    const p = await getPage(conn, resource, qs({ ...base, startIndex: start, count: 200, attributes: "id" }));
    ids.push(...p.Resources.map((r) => r.id));
    if (p.Resources.length < 200) return ids;
  }
}

/** Walks forward from the first page, then back from the last page; returns the pages of both walks. */
async function walk(conn: TestConnection, resource: string, base: Record<string, string | undefined>, count: number) {
  const forward: Page[] = [];
  let page = await getPage(conn, resource, qs({ ...base, cursor: "", count }));
  forward.push(page);
  while (page.nextCursor) {
    page = await getPage(conn, resource, qs({ ...base, cursor: page.nextCursor, count }));
    forward.push(page);
    if (forward.length > 100) throw new Error("runaway walk");
  }
  const backward: Page[] = [page];
  while (page.previousCursor) {
    page = await getPage(conn, resource, qs({ ...base, cursor: page.previousCursor, count }));
    backward.push(page);
    if (backward.length > 100) throw new Error("runaway walk");
  }
  return { forward, backward };
}

const idsOf = (pages: Page[]) => pages.flatMap((p) => p.Resources.map((r) => r.id));

async function createUser(conn: TestConnection, body: Record<string, unknown>): Promise<string> {
  const res = await scim(conn, "POST", "/Users", { schemas: [USER], active: true, ...body });
  expect(res.status, await res.clone().text()).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

let conn: TestConnection;
let other: TestConnection;
/** Users created over SCIM without displayName/externalId (NULL sort keys). */
const noDisplay: string[] = [];

beforeAll(async () => {
  conn = await createConnection({ name: "cursor" });
  other = await createConnection({ name: "cursor-other" });
  // 250 users (user0000001@bench.example … user0000250@bench.example) with one created_at: the id breaks every tie.
  const seeded = await admin("POST", "/__dev/bench/seed", { idp_id: conn.id, prefix: "cur", users: { from: 1, count: 250 } });
  expect(seeded.status).toBe(200);
  for (let i = 0; i < 5; i++) noDisplay.push(await createUser(conn, { userName: `nodisplay${i}@example.com` }));
  const seededOther = await admin("POST", "/__dev/bench/seed", { idp_id: other.id, prefix: "cur-o", users: { from: 1, count: 30 } });
  expect(seededOther.status).toBe(200);
});

describe("cursor walks (RFC 9865 §2)", () => {
  it("walks 255 users in pages of 100 forward and back, matching index order", async () => {
    const reference = await indexOrder(conn, "Users", {});
    expect(reference).toHaveLength(255);
    const { forward, backward } = await walk(conn, "Users", {}, 100);
    expect(forward.map((p) => p.Resources.length)).toEqual([100, 100, 55]);
    expect(idsOf(forward)).toEqual(reference);
    // Back from the last page: the same pages in reverse, each in forward order.
    expect(backward.map((p) => p.Resources.length)).toEqual([55, 100, 100]);
    expect(idsOf([...backward].reverse())).toEqual(reference);
    for (const p of [...forward, ...backward]) {
      expect(p.totalResults).toBe(255);
      expect(p.itemsPerPage).toBe(p.Resources.length);
      expect(p).not.toHaveProperty("startIndex");
    }
    // §2: no previousCursor on the first page; nextCursor on every page but the last.
    expect(forward[0]).not.toHaveProperty("previousCursor");
    expect(forward.slice(0, -1).every((p) => typeof p.nextCursor === "string")).toBe(true);
    expect(forward.at(-1)).not.toHaveProperty("nextCursor");
    expect(backward.at(-1)).not.toHaveProperty("previousCursor");
    expect(backward.at(-1)!.nextCursor).toEqual(expect.any(String));
    // Cursors are URL-safe (§2: RFC 3986 unreserved characters only).
    expect(forward[0]!.nextCursor).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it.each<[string, Record<string, string>, number]>([
    ["userName sw (indexed range)", { filter: 'userName sw "user00001"' }, 25],
    ["emails.value co (trigram semi-join)", { filter: 'emails.value co "r00002"' }, 30],
    ["emails value filter (semi-join)", { filter: 'emails[type eq "work" and value sw "user00000"]' }, 40],
    ["filter and sortBy userName descending", { filter: 'userName sw "user00001"', sortBy: "userName", sortOrder: "descending" }, 30],
    ["sortBy displayName with NULL keys, ascending", { sortBy: "displayName" }, 60],
    ["sortBy displayName with NULL keys, descending", { sortBy: "displayName", sortOrder: "descending" }, 60],
    ["sortBy externalId with NULL keys", { sortBy: "externalId", sortOrder: "descending" }, 100],
    ["sortBy meta.lastModified", { sortBy: "meta.lastModified" }, 100],
    ["sortBy emails (primary value, multi-valued)", { sortBy: "emails", sortOrder: "descending" }, 100],
    // A JSON-path key (a bound parameter in SELECT, WHERE and ORDER BY) that is NULL for every user: NULL positions only.
    ["sortBy an enterprise attribute (JSON path, all NULL)", { sortBy: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department" }, 100],
    ["…the same, descending, with a filter", { sortBy: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", sortOrder: "descending", filter: 'userName sw "user00001"' }, 30],
  ])("%s: forward and back match index order", async (_name, base, count) => {
    const reference = await indexOrder(conn, "Users", base);
    expect(reference.length).toBeGreaterThan(count);
    const { forward, backward } = await walk(conn, "Users", base, count);
    expect(idsOf(forward)).toEqual(reference);
    expect(idsOf([...backward].reverse())).toEqual(reference);
    for (const p of forward) expect(p.totalResults).toBe(reference.length);
  });

  it("the NULL-key users are where index order puts them, in both directions", async () => {
    const asc = await walk(conn, "Users", { sortBy: "displayName" }, 100);
    expect(idsOf(asc.forward).slice(-5).sort()).toEqual([...noDisplay].sort());
    const desc = await walk(conn, "Users", { sortBy: "displayName", sortOrder: "descending" }, 50);
    expect(idsOf(desc.forward).slice(0, 5).sort()).toEqual([...noDisplay].sort());
  });

  it("POST /Users/.search takes the cursor in the body (RFC 9865 §3)", async () => {
    const search = async (extra: Record<string, unknown>) => {
      const res = await scim(conn, "POST", "/Users/.search", { schemas: [SEARCH], filter: 'userName sw "user00002"', count: 7, attributes: ["userName"], ...extra });
      expect(res.status).toBe(200);
      return (await res.json()) as Page;
    };
    const first = await search({ cursor: "" });
    expect(first.Resources.map((r) => r.userName)).toEqual(Array.from({ length: 7 }, (_, i) => `user000020${i}@bench.example`));
    const second = await search({ cursor: first.nextCursor });
    expect(second.Resources.map((r) => r.userName)[0]).toBe("user0000207@bench.example");
    expect(second.totalResults).toBe(first.totalResults);
    // A GET cursor and a POST cursor for the same query are interchangeable.
    const viaGet = await getPage(conn, "Users", qs({ filter: 'userName sw "user00002"', cursor: first.nextCursor, count: 7, attributes: "userName" }));
    expect(viaGet.Resources).toEqual(second.Resources);
  });

  it("Groups page by cursor too", async () => {
    const g = await createConnection({ name: "cursor-groups" });
    for (let i = 0; i < 7; i++) {
      const res = await scim(g, "POST", "/Groups", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"], displayName: `g${i}` });
      expect(res.status).toBe(201);
    }
    const reference = await indexOrder(g, "Groups", { sortBy: "displayName" });
    const { forward, backward } = await walk(g, "Groups", { sortBy: "displayName" }, 3);
    expect(forward.map((p) => p.Resources.length)).toEqual([3, 3, 1]);
    expect(idsOf(forward)).toEqual(reference);
    expect(idsOf([...backward].reverse())).toEqual(reference);
  });

  it("count=0 gives totalResults only; a cursor is still checked", async () => {
    const p = await getPage(conn, "Users", "cursor&count=0");
    expect(p).toMatchObject({ totalResults: 255, itemsPerPage: 0, Resources: [] });
    expect(p).not.toHaveProperty("nextCursor");
    const bad = await scim(conn, "GET", "/Users?cursor=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&count=0");
    expect(bad.status).toBe(400);
  });

  it("index paging is unchanged: startIndex, no cursors", async () => {
    const p = await getPage(conn, "Users", "startIndex=101&count=100");
    expect(p.startIndex).toBe(101);
    expect(p).not.toHaveProperty("nextCursor");
    expect(p).not.toHaveProperty("previousCursor");
  });
});

describe("concurrent writes during a walk", () => {
  it("inserts between pages neither duplicate nor skip the rows that existed (default order and userName order)", async () => {
    const c = await createConnection({ name: "cursor-concurrent" });
    const seeded = await admin("POST", "/__dev/bench/seed", { idp_id: c.id, prefix: "cur-c", users: { from: 1, count: 250 } });
    expect(seeded.status).toBe(200);
    for (const base of [{}, { sortBy: "userName" }, { sortBy: "userName", sortOrder: "descending" }] as Record<string, string>[]) {
      const existing = new Set(await indexOrder(c, "Users", base));
      const seen: string[] = [];
      let page = await getPage(c, "Users", qs({ ...base, cursor: "", count: 100 }));
      seen.push(...page.Resources.map((r) => r.id));
      let n = 0;
      while (page.nextCursor) {
        // New users whose userNames fall before, inside and after the pages still to come.
        const tag = `${base.sortBy ?? "d"}${base.sortOrder ?? ""}${n++}`;
        for (const name of [`aaa-${tag}`, `user0000150-${tag}`, `user0000201-${tag}`, `zzz-${tag}`]) await createUser(c, { userName: `${name}@bench.example` });
        page = await getPage(c, "Users", qs({ ...base, cursor: page.nextCursor, count: 100 }));
        seen.push(...page.Resources.map((r) => r.id));
      }
      expect(new Set(seen).size).toBe(seen.length);
      const missing = [...existing].filter((id) => !seen.includes(id));
      expect(missing).toEqual([]);
    }
  });
});

describe("refused cursors (RFC 9865 §2.1)", () => {
  const expect400 = async (res: Response, scimType: string) => {
    const body = (await res.json()) as Record<string, unknown>;
    expect({ status: res.status, body }).toMatchObject({ status: 400, body: { schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"], status: "400", scimType } });
  };
  let next: string;
  beforeAll(async () => {
    next = (await getPage(conn, "Users", qs({ filter: 'userName sw "user"', cursor: "", count: 10 }))).nextCursor!;
  });

  it.each<[string, () => string]>([
    ["garbage", () => "not-a-cursor"],
    ["tampered", () => next.slice(0, 30) + (next[30] === "A" ? "B" : "A") + next.slice(31)],
    ["truncated", () => next.slice(0, -2)],
  ])("%s → 400 invalidCursor", async (_name, cursor) => {
    await expect400(await scim(conn, "GET", `/Users?${qs({ filter: 'userName sw "user"', cursor: cursor(), count: 10 })}`), "invalidCursor");
  });

  it.each<[string, string, string]>([
    ["another filter", "Users", qs({ filter: 'userName sw "usex"', count: 10 })],
    ["no filter", "Users", qs({ count: 10 })],
    ["another sortBy", "Users", qs({ filter: 'userName sw "user"', sortBy: "userName", count: 10 })],
    ["another sortOrder", "Users", qs({ filter: 'userName sw "user"', sortOrder: "descending", count: 10 })],
  ])("a cursor replayed with %s → 400 invalidCursor", async (_name, resource, query) => {
    await expect400(await scim(conn, "GET", `/${resource}?${query}&cursor=${next}`), "invalidCursor");
  });

  it("a /Users cursor replayed on /Groups → 400 invalidCursor", async () => {
    const users = (await getPage(conn, "Users", "cursor&count=10")).nextCursor!;
    await expect400(await scim(conn, "GET", `/Groups?cursor=${users}&count=10`), "invalidCursor");
  });

  it("another connection cannot use the cursor, even for the identical query", async () => {
    await expect400(await scim(other, "GET", `/Users?${qs({ filter: 'userName sw "user"', cursor: next, count: 10 })}`), "invalidCursor");
    // …and its own identical query works.
    const own = await getPage(other, "Users", qs({ filter: 'userName sw "user"', cursor: "", count: 10 }));
    expect(own.totalResults).toBe(30);
  });

  it("a different count is fine (keyset positions do not depend on it)", async () => {
    const p = await getPage(conn, "Users", qs({ filter: 'userName sw "user"', cursor: next, count: 3 }));
    expect(p.Resources.map((r) => r.userName)).toEqual(["user0000011@bench.example", "user0000012@bench.example", "user0000013@bench.example"]);
  });

  it("cursor with startIndex → 400 invalidValue (GET and .search)", async () => {
    await expect400(await scim(conn, "GET", "/Users?cursor&startIndex=1"), "invalidValue");
    await expect400(await scim(conn, "POST", "/Users/.search", { schemas: [SEARCH], cursor: "", startIndex: 1 }), "invalidValue");
  });

  it("a root /.search refuses a cursor (one keyset cannot span Users and Groups)", async () => {
    await expect400(await scim(conn, "POST", "/.search", { schemas: [SEARCH], cursor: "" }), "invalidValue");
  });

  it("ServiceProviderConfig advertises cursor and index paging", async () => {
    const res = await scim(conn, "GET", "/ServiceProviderConfig");
    expect(((await res.json()) as { pagination: unknown }).pagination).toEqual({
      cursor: true,
      index: true,
      defaultPaginationMethod: "index",
      defaultPageSize: 200,
      maxPageSize: 200,
      cursorTimeout: 3600,
    });
  });
});

describe("query plans: a cursor page is an index seek, never OFFSET", () => {
  it("the default order's keyset uses the (idp_id, created_at, id) index with no temp sort", async () => {
    const plan = (await env.DB.prepare(
      "EXPLAIN QUERY PLAN SELECT u.*, u.created_at AS k FROM users u WHERE u.idp_id = ? AND (1 = 1) AND (u.created_at, u.id) > (?, ?) ORDER BY u.created_at ASC, u.id ASC LIMIT ?",
    )
      .bind(conn.id, "2026-01-01", "x", 101)
      .all<{ detail: string }>()).results.map((r) => r.detail);
    expect(plan.join("\n")).toMatch(/users_idp_created/);
    expect(plan.join("\n")).not.toMatch(/TEMP B-TREE/);
  });
});
