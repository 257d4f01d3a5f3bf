// Auth of EVERY admin endpoint, enumerated from the Hono apps themselves (`app.routes`), so a route
// added later is covered without touching this file: no token → 401, a read token on a write → 403,
// a write token on ids that do not exist (or belong to another connection) → 404, never another
// tenant's data. Also every dashboard route: no session → login, a read token on a write → 403.
import { env, exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { adminRoutes } from "../../src/admin/routes";
import { dashboardRoutes } from "../../src/dashboard/routes";
import { admin, createConnection, ORIGIN, provisionUser, scim, type TestConnection } from "../helpers";

/** Endpoints meant to be public (the OpenAPI document and its reference page). */
const PUBLIC = new Set(["GET /openapi.json", "GET /docs"]);

/** A body that passes validation, for routes that validate before they look the id up. */
const VALID_BODY: Record<string, unknown> = {
  "POST /access/apps/:id/simulate": { email: "nobody@example.com" },
};

/**
 * Routes that answer an unknown id with 200 on purpose, and why (each reveals nothing of any tenant):
 * - revoke_tokens: revoking the sessions of an app id is idempotent and must also work after the app
 *   is deleted (its leftover sessions), so an unknown app id revokes nothing and says so (`users: 0`).
 */
const UNKNOWN_ID_OK = new Set(["POST /access/apps/:appId/revoke_tokens"]);

/** Distinct concrete (method, path) routes of a Hono app: middleware (`ALL`, `*`) left out. */
function endpoints(app: { routes: { method: string; path: string }[] }): { method: string; path: string }[] {
  const seen = new Map<string, { method: string; path: string }>();
  for (const r of app.routes) {
    if (r.method === "ALL" || r.path.includes("*")) continue;
    seen.set(`${r.method} ${r.path}`, { method: r.method, path: r.path });
  }
  return [...seen.values()];
}

const API = endpoints(adminRoutes).filter((r) => !PUBLIC.has(`${r.method} ${r.path}`));
const WRITES = API.filter((r) => r.method !== "GET" && r.method !== "HEAD");
const WITH_PARAMS = API.filter((r) => r.path.includes("/:"));

/** `path` with each `:param` replaced by `fill(name, index)`. */
const fillPath = (path: string, fill: (name: string, index: number) => string) => {
  let i = 0;
  return path.replace(/:([A-Za-z_]+)/g, (_, name: string) => fill(name, i++));
};

function call(method: string, path: string, token: string | null, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const withBody = method !== "GET" && method !== "HEAD" && method !== "DELETE";
  if (withBody) headers["content-type"] = "application/json";
  return exports.default.fetch(`${ORIGIN}/api/v1${path}`, { method, headers, body: withBody ? JSON.stringify(body ?? {}) : undefined });
}

let readToken: string;
let writeToken: string;
let a: TestConnection;
let b: TestConnection;
let bUser: { id: string; userName: string };
let bGroup: string;
let aUser: { id: string; userName: string };

beforeAll(async () => {
  const mk = async (scope: string) => ((await (await admin("POST", "/api/v1/tokens", { name: `api-auth-${scope}`, scope })).json()) as { result: { token: string } }).result.token;
  readToken = await mk("read");
  writeToken = await mk("write");
  a = await createConnection({ name: "tenant-a", type: "okta" });
  b = await createConnection({ name: "tenant-b", type: "okta" });
  aUser = await provisionUser(a, "alice@a.example");
  bUser = await provisionUser(b, "bob@b.example");
  const g = await scim(b, "POST", "/Groups", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"], displayName: "b-secret-group", members: [{ value: bUser.id }] });
  bGroup = ((await g.json()) as { id: string }).id;
});

describe("admin API auth, for every /api/v1 route", () => {
  it("enumerates the admin API (sanity: the known routes are there)", () => {
    const keys = API.map((r) => `${r.method} ${r.path}`);
    for (const k of ["GET /access/identity_providers", "POST /tokens", "DELETE /tokens/:id", "PUT /dashboard/policy", "GET /access/identity_providers/:id/scim/users"]) expect(keys).toContain(k);
    expect(API.length).toBeGreaterThan(40);
  });

  it.each(API.map((r) => [`${r.method} ${r.path}`, r] as const))("%s: no token, a malformed one, or an unknown one → 401", async (_, r) => {
    const path = fillPath(r.path, () => crypto.randomUUID());
    for (const token of [null, "", "zt_unknown", "test-admin-token-but-wrong"]) {
      const res = await call(r.method, path, token);
      expect(res.status, `${r.method} ${path} with ${JSON.stringify(token)}`).toBe(401);
      const body = (await res.json()) as { success: boolean; errors: { code: number }[] };
      expect(body.success).toBe(false);
      expect(body.errors[0]!.code).toBe(10000);
    }
  });

  it.each(WRITES.map((r) => [`${r.method} ${r.path}`, r] as const))("%s: a read token → 403 (and nothing changes)", async (_, r) => {
    const before = await env.DB.prepare("SELECT count(*) AS n FROM audit_log").first<{ n: number }>();
    const res = await call(r.method, fillPath(r.path, (name) => (name === "id" && r.path.startsWith("/access/identity_providers") ? a.id : crypto.randomUUID())), readToken, {});
    expect(res.status).toBe(403);
    expect(((await res.json()) as { errors: { code: number; message: string }[] }).errors[0]!.message).toMatch(/read-only/);
    const after = await env.DB.prepare("SELECT count(*) AS n FROM audit_log").first<{ n: number }>();
    expect(after!.n).toBe(before!.n);
  });

  it.each(API.filter((r) => r.method === "GET" && !r.path.includes("/:")).map((r) => [`GET ${r.path}`, r] as const))("%s: a read token may read", async (_, r) => {
    const res = await call("GET", r.path, readToken);
    expect([401, 403]).not.toContain(res.status);
  });

  it.each(WITH_PARAMS.map((r) => [`${r.method} ${r.path}`, r] as const))("%s: a write token on ids that do not exist → 404", async (_, r) => {
    const key = `${r.method} ${r.path}`;
    const res = await call(r.method, fillPath(r.path, () => crypto.randomUUID()), writeToken, VALID_BODY[key] ?? {});
    const text = await res.text();
    if (UNKNOWN_ID_OK.has(key)) {
      expect(res.status, text).toBe(200);
      expect(text).not.toContain(bUser.id);
    } else expect(res.status, text).toBe(404);
  });

  it.each(WITH_PARAMS.filter((r) => /^\/access\/identity_providers\/:id\/.+:/.test(r.path)).map((r) => [`${r.method} ${r.path}`, r] as const))(
    "%s: connection A's path with connection B's object ids → 404",
    async (_, r) => {
      const res = await call(r.method, fillPath(r.path, (_name, i) => (i === 0 ? a.id : r.path.includes("group") ? bGroup : bUser.id)), writeToken, {});
      expect(res.status).toBe(404);
    },
  );

  it("A's SCIM views never show B's users or groups, whatever the filter", async () => {
    const users = async (q: string) => (await (await call("GET", `/access/identity_providers/${a.id}/scim/users${q}`, readToken)).json()) as { result: { cf_resource_id: string }[]; result_info: { total_count: number } };
    const all = await users("");
    expect(all.result.map((u) => u.cf_resource_id)).toEqual([aUser.id]);
    for (const q of [`?cf_resource_id=${bUser.id}`, `?email=${bUser.userName}`, `?username=${bUser.userName}`]) {
      const r = await users(q);
      expect(r.result, q).toEqual([]);
      expect(r.result_info.total_count).toBe(0);
    }
    const groups = async (q: string) => (await (await call("GET", `/access/identity_providers/${a.id}/scim/groups${q}`, readToken)).json()) as { result: unknown[] };
    for (const q of ["", `?cf_resource_id=${bGroup}`, "?name=b-secret-group", "?search=b-secret"]) expect((await groups(q)).result, q).toEqual([]);
  });
});

describe("dashboard auth, for every /dashboard route", () => {
  const PAGES = endpoints(dashboardRoutes);
  const page = (r: { path: string }) => `${ORIGIN}/dashboard${fillPath(r.path, () => crypto.randomUUID())}`;

  it.each(PAGES.filter((r) => !r.path.startsWith("/setup")).map((r) => [`${r.method} ${r.path}`, r] as const))("%s: no session (after set-up) → the team login", async (_, r) => {
    await admin("PUT", "/api/v1/dashboard/policy", { emails: ["nobody@example.com"] });
    const res = await exports.default.fetch(page(r), { method: r.method, redirect: "manual" });
    expect(res.status).toBe(302);
    expect(new URL(res.headers.get("location")!).pathname).toBe("/cdn-cgi/access/login/edge.test");
  });

  it.each(PAGES.filter((r) => r.method !== "GET").map((r) => [`${r.method} ${r.path}`, r] as const))("%s: a read token → 403", async (_, r) => {
    const res = await exports.default.fetch(page(r), { method: r.method, headers: { authorization: `Bearer ${readToken}`, "content-type": "application/x-www-form-urlencoded" }, body: "" });
    expect(res.status).toBe(403);
  });
});
