import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ORIGIN } from "../helpers";
import { adminRoutes } from "../../src/admin/routes";
import { apiDocsRoutes, OPERATIONS, openApiPath } from "../../src/admin/openapi";

type Doc = {
  openapi: string;
  servers: { url: string }[];
  security: unknown[];
  paths: Record<string, Record<string, { parameters: { name: string; in: string; required: boolean; schema: Record<string, unknown> }[]; requestBody?: { content: Record<string, { schema: Record<string, unknown> }> }; security?: unknown[] }>>;
  components: { securitySchemes: Record<string, unknown>; schemas: Record<string, { oneOf?: unknown[] }> };
};

const get = (path: string) => exports.default.fetch(`${ORIGIN}${path}`);
const doc = async () => (await (await get("/api/v1/openapi.json")).json()) as Doc;

/** Every route the Hono apps registered under /api/v1, as `METHOD /path` (middleware and the 404 catch-all left out). */
function registeredRoutes(): string[] {
  const routes = [...adminRoutes.routes, ...apiDocsRoutes.routes].filter((r) => r.method !== "ALL" && !r.path.endsWith("*"));
  return [...new Set(routes.map((r) => `${r.method.toUpperCase()} ${openApiPath(r.path)}`))].sort();
}

describe("OpenAPI 3.1 document", () => {
  it("is served without a token, as OpenAPI 3.1 with bearer security and this deployment's /api/v1 as server", async () => {
    const res = await get("/api/v1/openapi.json");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/application\/json/);
    const d = (await res.json()) as Doc;
    expect(d.openapi).toBe("3.1.0");
    expect(d.servers).toEqual([{ url: `${ORIGIN}/api/v1` }]);
    expect(d.security).toEqual([{ bearer: [] }]);
    expect(d.components.securitySchemes.bearer).toMatchObject({ type: "http", scheme: "bearer" });
    // The documentation is open; the API it describes is not.
    expect((await get("/api/v1/access/identity_providers")).status).toBe(401);
  });

  it("documents exactly the routes the admin API registers (a new route without an entry fails here)", async () => {
    const d = await doc();
    const documented = Object.entries(d.paths)
      .flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    const registered = registeredRoutes();
    expect(registered.length).toBeGreaterThan(50);
    expect(registered.filter((r) => !documented.includes(r)), "routes without an OPERATIONS entry in src/admin/openapi.ts").toEqual([]);
    expect(documented.filter((r) => !registered.includes(r)), "OPERATIONS entries without a route").toEqual([]);
    expect(documented.length).toBe(OPERATIONS.length);
  });

  it("declares every path parameter, and only the documentation itself is public", async () => {
    const d = await doc();
    for (const [path, methods] of Object.entries(d.paths)) {
      const names = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      for (const [method, op] of Object.entries(methods)) {
        expect(op.parameters.filter((p) => p.in === "path").map((p) => p.name), `${method} ${path}`).toEqual(names);
        const open = Array.isArray(op.security) && op.security.length === 0;
        expect(open, `${method} ${path}`).toBe(path === "/openapi.json" || path === "/docs");
      }
    }
  });

  it("turns the routes' zod schemas into request bodies and query parameters", async () => {
    const d = await doc();
    const body = (path: string, method: string) => d.paths[path]![method]!.requestBody!.content["application/json"]!.schema as Record<string, any>;
    const idp = body("/access/identity_providers", "post");
    expect(idp.required).toEqual(expect.arrayContaining(["name", "type"]));
    expect(idp.properties.type.enum).toEqual(["azureAD", "okta", "oidc"]);
    expect(idp.properties.scim_config.properties.identity_update_behavior.enum).toEqual(["automatic", "reauth", "no_action"]);
    // Access rules are a transform in zod: documented as the Rule component, one selector per rule.
    const policy = body("/access/apps/{id}/policies", "post");
    expect(policy.properties.include.items).toEqual({ $ref: "#/components/schemas/Rule" });
    expect(policy.properties.decision.enum).toEqual(["allow", "deny", "bypass", "non_identity"]);
    expect(d.components.schemas.Rule!.oneOf).toHaveLength(8);
    expect(body("/gateway/rules", "post").properties.action.enum).toEqual(["allow", "block", "override"]);
    const devices = d.paths["/gateway/devices"]!.get!.parameters;
    expect(devices.find((p) => p.name === "per_page")).toMatchObject({ in: "query", required: false, schema: { type: "integer", maximum: 1000, default: 50 } });
    const groups = d.paths["/access/identity_providers/{id}/scim/groups"]!.get!.parameters.map((p) => p.name);
    expect(groups).toEqual(expect.arrayContaining(["id", "page", "per_page", "search", "name"]));
    const drift = d.paths["/drift"]!.get!.parameters.find((p) => p.name === "stale_after_hours");
    expect(drift).toMatchObject({ required: false, schema: { default: 24 } });
  });
});

describe("API reference page", () => {
  it("is server-rendered HTML listing every operation by tag, with no script and nothing fetched from elsewhere", async () => {
    const res = await get("/api/v1/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/text\/html/);
    const page = await res.text();
    expect(page).not.toMatch(/<script/i);
    expect(page).not.toMatch(/(src|href)="(https?:)?\/\//i);
    const d = await doc();
    for (const [path, methods] of Object.entries(d.paths)) {
      for (const method of Object.keys(methods)) expect(page, `${method} ${path}`).toContain(`<span class="m">${method}</span> <code>/api/v1${path}</code>`);
    }
    expect(page).toContain('<h2 id="gateway">Gateway</h2>');
    expect(page).toContain("<code>stale_after_hours</code>");
    expect(page).toContain("Request body (JSON Schema)");
  });
});
