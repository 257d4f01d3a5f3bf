// Paging of the admin API's list endpoints (Cloudflare's `page`/`per_page` in, `result_info` out):
// the shape, a second page that continues the first in the list's order, the default page, and the
// 400 envelope for a page or per_page out of range. Plus the dashboard lists that page with them.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { admin, createConnection } from "../helpers";

type Json = Record<string, any>;

const uniq = () => crypto.randomUUID().slice(0, 8);

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const res = await admin(method, `/api/v1${path}`, body);
  return { status: res.status, body: (await res.json()) as Json };
}

async function create(path: string, body: unknown): Promise<string> {
  const res = await call("POST", path, body);
  if (res.status !== 200) throw new Error(`POST ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.result.id as string;
}

async function newApp(): Promise<string> {
  return create("/access/apps", { name: `app-${uniq()}`, domain: `app-${uniq()}.example.com`, origin: "https://origin.internal" });
}

/** Each list: creates three of its items (more may exist from other tests) and returns the list's path and table. */
const LISTS: [string, () => Promise<{ path: string; count: () => Promise<number> }>][] = [
  [
    "/gateway/rules",
    async () => {
      for (let i = 0; i < 3; i++) await create("/gateway/rules", { name: `r-${uniq()}`, action: "block", filters: ["dns"], traffic: `dns.fqdn == "${uniq()}.example"` });
      return { path: "/gateway/rules", count: () => rows("gateway_rules") };
    },
  ],
  [
    "/access/identity_providers",
    async () => {
      for (let i = 0; i < 3; i++) await createConnection();
      return { path: "/access/identity_providers", count: () => rows("identity_providers") };
    },
  ],
  [
    "/access/apps",
    async () => {
      for (let i = 0; i < 3; i++) await newApp();
      return { path: "/access/apps", count: () => rows("access_apps") };
    },
  ],
  [
    "/access/apps/:id/policies",
    async () => {
      const app = await newApp();
      for (let i = 0; i < 3; i++) await create(`/access/apps/${app}/policies`, { name: `p-${i}`, decision: "allow", include: [{ everyone: {} }] });
      return { path: `/access/apps/${app}/policies`, count: async () => 3 };
    },
  ],
  [
    "/access/groups",
    async () => {
      for (let i = 0; i < 3; i++) await create("/access/groups", { name: `g-${uniq()}`, include: [{ email_domain: { domain: "example.com" } }] });
      return { path: "/access/groups", count: () => rows("access_groups") };
    },
  ],
  [
    "/access/service_tokens",
    async () => {
      for (let i = 0; i < 3; i++) await create("/access/service_tokens", { name: `st-${uniq()}` });
      return { path: "/access/service_tokens", count: () => rows("access_service_tokens") };
    },
  ],
  [
    "/tokens",
    async () => {
      for (let i = 0; i < 3; i++) await create("/tokens", { name: `t-${uniq()}`, scope: "read" });
      return { path: "/tokens", count: () => rows("api_tokens") };
    },
  ],
];

async function rows(table: string): Promise<number> {
  return (await env.DB.prepare(`SELECT count(*) AS n FROM ${table}`).first<number>("n"))!;
}

const ids = (body: Json) => (body.result as { id: string }[]).map((r) => r.id);

describe("list endpoints are paged", () => {
  it.each(LISTS)("GET %s: result_info, page 2 continues page 1, the default page is the whole small list", async (_name, seed) => {
    const { path, count } = await seed();
    const total = await count();
    expect(total).toBeGreaterThanOrEqual(3);

    const all = await call("GET", `${path}?per_page=1000`);
    expect(all.status).toBe(200);
    expect(all.body.result).toHaveLength(total);

    const first = await call("GET", `${path}?per_page=2`);
    expect(first.status).toBe(200);
    expect(first.body.result_info).toEqual({ page: 1, per_page: 2, count: 2, total_count: total, total_pages: Math.ceil(total / 2) });
    expect(ids(first.body)).toEqual(ids(all.body).slice(0, 2));

    const second = await call("GET", `${path}?page=2&per_page=2`);
    expect(second.status).toBe(200);
    expect(second.body.result_info).toMatchObject({ page: 2, per_page: 2, count: Math.min(2, total - 2), total_count: total });
    expect(ids(second.body)).toEqual(ids(all.body).slice(2, 4));

    // Past the end: an empty page, not an error.
    const past = await call("GET", `${path}?page=${Math.ceil(total / 2) + 1}&per_page=2`);
    expect(past.status).toBe(200);
    expect(past.body.result).toEqual([]);
    expect(past.body.result_info).toMatchObject({ count: 0, total_count: total });

    // No parameters: page 1 of 50, which for a list this small is the whole list in the same order.
    const plain = await call("GET", path);
    expect(plain.body.result_info).toMatchObject({ page: 1, per_page: 50, total_count: total });
    if (total <= 50) expect(plain.body.result).toEqual(all.body.result);
  });

  const BAD: [string, RegExp][] = [
    ["per_page=0", /^per_page: /],
    ["per_page=1001", /^per_page: /],
    ["per_page=ten", /^per_page: /],
    ["per_page=2.5", /^per_page: /],
    ["page=0", /^page: /],
    ["page=-1", /^page: /],
    ["page=x", /^page: /],
  ];
  const cases = LISTS.flatMap(([name]) => BAD.map(([query, message]) => [name, query, message] as const));
  it.each(cases)("GET %s?%s is a 400 in the API error envelope", async (name, query, message) => {
    // The policies list is checked on a real app, so the 400 is the query's and not a 404.
    const path = name === "/access/apps/:id/policies" ? `/access/apps/${await newApp()}/policies` : name;
    const res = await call("GET", `${path}?${query}`);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ success: false, result: null, errors: [{ code: 10001 }] });
    expect(res.body.errors[0].message).toMatch(message);
  });

  it("an unknown app's policies are still a 404", async () => {
    const res = await call("GET", `/access/apps/${crypto.randomUUID()}/policies?page=2`);
    expect(res.status).toBe(404);
  });

  it("the OpenAPI document lists page and per_page on every paged list", async () => {
    const doc = (await (await admin("GET", "/api/v1/openapi.json")).json()) as Json;
    for (const [name] of LISTS) {
      const op = doc.paths[name.replace(":id", "{id}")].get;
      const names = (op.parameters as { name: string }[]).map((p) => p.name);
      expect(names, name).toEqual(expect.arrayContaining(["page", "per_page"]));
      expect(op.responses["200"].content["application/json"].schema.$ref, name).toBe("#/components/schemas/PagedEnvelope");
    }
  });
});

describe("dashboard lists page with the API", () => {
  it.each([
    ["/dashboard/gateway/rules", () => create("/gateway/rules", { name: `r-${uniq()}`, action: "block", filters: ["dns"], traffic: `dns.fqdn == "${uniq()}.example"` })],
    ["/dashboard/access/apps", newApp],
    ["/dashboard/tokens", () => create("/tokens", { name: `t-${uniq()}`, scope: "read" })],
  ])("%s shows a pager and page 2", async (page, make) => {
    await make();
    await make();
    const first = await (await admin("GET", `${page}?per_page=1`)).text();
    expect(first).toContain('data-testid="pager"');
    expect(first).toMatch(/Page 1 of \d+/);
    expect(first).toContain(`href="${page}?per_page=1&amp;page=2"`);
    const second = await admin("GET", `${page}?per_page=1&page=2`);
    expect(second.status).toBe(200);
    expect(await second.text()).toContain('data-testid="page-prev"');
    // A hand-edited page number falls back to the first page rather than an error page.
    expect((await admin("GET", `${page}?per_page=0`)).status).toBe(200);
  });
});
