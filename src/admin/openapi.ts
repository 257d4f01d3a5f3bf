// The OpenAPI 3.1 document of the admin API (`GET /api/v1/openapi.json`), generated from the zod schemas
// the routes validate with (`z.toJSONSchema`, JSON Schema 2020-12, OpenAPI 3.1's own dialect). One list,
// OPERATIONS, names every /api/v1 route with its schemas; test/integration/openapi.test.ts compares it
// with the routes the Hono app registered, so a route without an entry fails the build.
//
// Served WITHOUT a token, as is the HTML reference (`GET /api/v1/docs`): it describes the API of open
// source software (paths, parameters, body shapes), holds no tenant data and no secrets, and tooling
// (code generators, API clients) can fetch it before it has a token. Every operation it lists still
// requires one. `@hono/zod-openapi` would have meant rewriting every route; this registry does not.
import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../http/app-env";
import { baseUrlFor } from "../config";
import { identityProviderCreateSchema, identityProviderUpdateSchema } from "./identity-providers";
import { pageSchema } from "./directory-views";
import { pageQuerySchema, userSearchSchema } from "./directory-search";
import { auditQuerySchema, deadLetterQuerySchema } from "./routes";
import { driftQuerySchema } from "./drift";
import { provisioningLogQuerySchema } from "../logs/provisioning-log";
import { appSchema, appUpdateSchema } from "../access/apps/apps";
import { simulateSchema } from "../access/apps/simulate";
import { GroupDefinitionSchema, PolicySchema, RULE_BODIES, RuleSchema } from "../access/policy/rules";
import { keySettingsSchema } from "../access/tokens/routes";
import { deviceCreateSchema, deviceListSchema } from "../gateway/devices";
import { dnsLogQuerySchema } from "../gateway/dns-log";
import { ruleSchema } from "../gateway/rules-store";
import { serviceTokenCreateSchema } from "../gateway/service-tokens";
import { CreateTokenSchema } from "../auth/api-tokens";
import { DashboardPolicyInputSchema } from "../access/dashboard-policy";
import { renderReference } from "./api-reference";
import { listPageSchema } from "../http/pagination";

type Method = "get" | "post" | "put" | "patch" | "delete";

/** One documented route: Hono's path syntax (`/access/apps/:id`), relative to /api/v1. */
export interface Operation {
  method: Method;
  path: string;
  tag: string;
  summary: string;
  query?: z.ZodType;
  body?: z.ZodType;
  /** What `result` holds on success. */
  response: string;
  /** Answers carry `result_info` (paged). */
  paged?: boolean;
  /** No token needed (the documentation itself). */
  public?: boolean;
}

// Query filters some list routes read by hand (no zod schema in the route): described here, checked by the route.
const scimUsersQuery = pageSchema.extend({
  email: z.string().optional().describe("exact email (case-insensitive)"),
  username: z.string().optional().describe("exact userName (case-insensitive)"),
  name: z.string().optional().describe("exact displayName (case-insensitive)"),
  idp_resource_id: z.string().optional().describe("the IdP's id (SCIM externalId)"),
  cf_resource_id: z.string().optional().describe("this service's user id"),
});
const scimGroupsQuery = pageSchema.extend({
  search: z.string().optional().describe("case-insensitive displayName prefix (the policy builders' dropdown)"),
  name: z.string().optional().describe("exact displayName (case-insensitive)"),
  idp_resource_id: z.string().optional().describe("the IdP's id (SCIM externalId)"),
  cf_resource_id: z.string().optional().describe("this service's group id"),
});
// Hand-checked in the route (src/admin/routes.ts): an email address.
const revokeUserBody = z.object({ email: z.string().describe("every directory user with this email, in every connection") });

const ip = "Identity providers";
const dir = "Directory";
const ses = "Sessions";
const apps = "Access applications";
const gw = "Gateway";

/** Every /api/v1 route. */
export const OPERATIONS: Operation[] = [
  { method: "get", path: "/openapi.json", tag: "Reference", summary: "This OpenAPI 3.1 document", response: "the document itself (no envelope)", public: true },
  { method: "get", path: "/docs", tag: "Reference", summary: "The HTML reference of this API", response: "an HTML page (no envelope)", public: true },

  { method: "post", path: "/tokens", tag: "API tokens", summary: "Create an API token (the token is in this answer only; stored hashed)", body: CreateTokenSchema, response: "the token, with its secret" },
  { method: "get", path: "/tokens", tag: "API tokens", summary: "List API tokens, newest first (never their secrets)", query: listPageSchema, response: "tokens", paged: true },
  { method: "delete", path: "/tokens/:id", tag: "API tokens", summary: "Revoke an API token", response: "the token" },
  { method: "get", path: "/dashboard/policy", tag: "Dashboard", summary: "The dashboard's Access policy", response: "the policy, or null before set-up" },
  { method: "put", path: "/dashboard/policy", tag: "Dashboard", summary: "Set the dashboard's Access policy (emails, a SCIM group, or rules)", body: DashboardPolicyInputSchema, response: "the policy" },

  { method: "post", path: "/access/identity_providers", tag: ip, summary: "Create a connection (the SCIM secret is in this answer only)", body: identityProviderCreateSchema, response: "the connection, with scim_config.secret" },
  { method: "get", path: "/access/identity_providers", tag: ip, summary: "List connections, oldest first", query: listPageSchema, response: "connections", paged: true },
  { method: "get", path: "/access/identity_providers/:id", tag: ip, summary: "Get a connection", response: "the connection" },
  { method: "put", path: "/access/identity_providers/:id", tag: ip, summary: "Update a connection", body: identityProviderUpdateSchema, response: "the connection" },
  { method: "patch", path: "/access/identity_providers/:id", tag: ip, summary: "Update some fields of a connection", body: identityProviderUpdateSchema, response: "the connection" },
  { method: "delete", path: "/access/identity_providers/:id", tag: ip, summary: "Delete a connection, its users and groups, and revoke their sessions (202: revocation queued)", response: "{id, sessions: {users, status}}" },
  { method: "post", path: "/access/identity_providers/:id/refresh_scim_secret", tag: ip, summary: "Rotate the SCIM secret (the old one stops at once)", response: "the connection, with the new scim_config.secret" },

  { method: "get", path: "/access/identity_providers/:id/scim/users", tag: dir, summary: "Provisioned users of a connection", query: scimUsersQuery, response: "users", paged: true },
  { method: "get", path: "/access/identity_providers/:id/scim/groups", tag: dir, summary: "Provisioned groups of a connection (also the policy builders' group dropdown)", query: scimGroupsQuery, response: "groups", paged: true },
  { method: "get", path: "/access/identity_providers/:id/scim/groups/:groupId/members", tag: dir, summary: "Members of one group of a connection", query: pageQuerySchema, response: "members", paged: true },
  { method: "get", path: "/access/identity_providers/:id/scim/status", tag: dir, summary: "A connection's last SCIM request and its failed requests in the last 24 hours", response: "{last_sync_at, errors_24h}" },
  { method: "get", path: "/access/users", tag: dir, summary: "Users across connections, by prefix of email, userName or display name", query: userSearchSchema, response: "users", paged: true },
  { method: "get", path: "/access/users/:id", tag: dir, summary: "One user: connection, groups, live sessions (app and device names), seat", response: "the user" },
  { method: "get", path: "/access/logs/scim/updates", tag: dir, summary: "The provisioning log (redacted request bodies)", query: provisioningLogQuerySchema, response: "log entries" },
  { method: "get", path: "/drift", tag: dir, summary: "Directory drift: dangling group references, deactivated users with sessions, connections not syncing", query: driftQuerySchema, response: "{groups, sessions, connections}, each {items, total, truncated}" },

  { method: "post", path: "/access/organizations/revoke_user", tag: ses, summary: "Revoke every session of the users with this email", body: revokeUserBody, response: "true, with revoked: {users, sessions}" },
  { method: "post", path: "/access/users/:id/revoke_sessions", tag: ses, summary: "Revoke every session of one user", response: "{id, revoked_sessions}" },
  { method: "get", path: "/access/users/:id/active_sessions", tag: ses, summary: "A user's live sessions", response: "sessions, newest first" },
  { method: "delete", path: "/access/users/:id/active_sessions/:sessionId", tag: ses, summary: "Revoke one session", response: "{id}" },
  { method: "post", path: "/access/apps/:appId/revoke_tokens", tag: ses, summary: "Revoke every session of an Access app", response: "null, with revoked: {users, mode}" },
  { method: "get", path: "/access/seats", tag: ses, summary: "Seat usage", response: "seat counts" },
  { method: "get", path: "/access/identity_changes/dead_letters", tag: ses, summary: "Identity changes the queue gave up on", query: deadLetterQuerySchema, response: "dead letters", paged: true },
  { method: "get", path: "/access/identity_changes/dead_letters/:id", tag: ses, summary: "One dead letter", response: "the dead letter" },
  { method: "post", path: "/access/identity_changes/dead_letters/:id/redrive", tag: ses, summary: "Apply a dead letter again", response: "the outcome" },
  { method: "get", path: "/audit_logs", tag: "Audit log", summary: "Admin actions", query: auditQuerySchema, response: "audit entries" },

  { method: "post", path: "/access/apps", tag: apps, summary: "Create a self-hosted app", body: appSchema, response: "the app" },
  { method: "get", path: "/access/apps", tag: apps, summary: "List apps, oldest first", query: listPageSchema, response: "apps", paged: true },
  { method: "get", path: "/access/apps/:id", tag: apps, summary: "Get an app", response: "the app" },
  { method: "put", path: "/access/apps/:id", tag: apps, summary: "Update an app", body: appUpdateSchema, response: "the app" },
  { method: "delete", path: "/access/apps/:id", tag: apps, summary: "Delete an app and revoke its sessions", response: "{id}, with revoked" },
  { method: "post", path: "/access/apps/:id/policies", tag: apps, summary: "Create a policy", body: PolicySchema, response: "the policy" },
  { method: "get", path: "/access/apps/:id/policies", tag: apps, summary: "An app's policies, by precedence", query: listPageSchema, response: "policies", paged: true },
  { method: "get", path: "/access/apps/:id/policies/:policyId", tag: apps, summary: "Get a policy", response: "the policy" },
  { method: "put", path: "/access/apps/:id/policies/:policyId", tag: apps, summary: "Update a policy", body: PolicySchema, response: "the policy" },
  { method: "delete", path: "/access/apps/:id/policies/:policyId", tag: apps, summary: "Delete a policy", response: "{id}" },
  { method: "post", path: "/access/apps/:id/simulate", tag: apps, summary: "Would this user get in, and why", body: simulateSchema, response: "the simulation" },
  { method: "post", path: "/access/groups", tag: apps, summary: "Create a reusable Access group", body: GroupDefinitionSchema, response: "the group" },
  { method: "get", path: "/access/groups", tag: apps, summary: "List reusable Access groups, by name", query: listPageSchema, response: "groups", paged: true },
  { method: "get", path: "/access/groups/:id", tag: apps, summary: "Get a reusable Access group", response: "the group" },
  { method: "put", path: "/access/groups/:id", tag: apps, summary: "Update a reusable Access group", body: GroupDefinitionSchema, response: "the group" },
  { method: "delete", path: "/access/groups/:id", tag: apps, summary: "Delete a reusable Access group (409 while referenced)", response: "{id}" },
  { method: "get", path: "/access/keys", tag: apps, summary: "Signing-key rotation settings", response: "key settings" },
  { method: "put", path: "/access/keys", tag: apps, summary: "Set the rotation interval", body: keySettingsSchema, response: "key settings" },
  { method: "post", path: "/access/keys/rotate", tag: apps, summary: "Rotate the signing key now", response: "key settings" },
  { method: "post", path: "/access/service_tokens", tag: apps, summary: "Create a service token (the secret is in this answer only)", body: serviceTokenCreateSchema, response: "the token, with client_secret" },
  { method: "get", path: "/access/service_tokens", tag: apps, summary: "List service tokens, oldest first", query: listPageSchema, response: "tokens", paged: true },
  { method: "get", path: "/access/service_tokens/:id", tag: apps, summary: "Get a service token", response: "the token" },
  { method: "delete", path: "/access/service_tokens/:id", tag: apps, summary: "Delete a service token", response: "the token" },
  { method: "post", path: "/access/service_tokens/:id/rotate", tag: apps, summary: "Rotate a service token's secret", response: "the token, with client_secret" },

  { method: "post", path: "/gateway/devices", tag: gw, summary: "Enroll a DoH device for a user (the token is in this answer only)", body: deviceCreateSchema, response: "the device, with token and doh_url" },
  { method: "get", path: "/gateway/devices", tag: gw, summary: "List devices, newest first", query: deviceListSchema, response: "devices", paged: true },
  { method: "get", path: "/gateway/devices/:id", tag: gw, summary: "Get a device", response: "the device" },
  { method: "delete", path: "/gateway/devices/:id", tag: gw, summary: "Revoke a device and its session", response: "the device" },
  { method: "post", path: "/gateway/rules", tag: gw, summary: "Create a DNS or HTTP rule (expressions checked when saved)", body: ruleSchema, response: "the rule" },
  { method: "get", path: "/gateway/rules", tag: gw, summary: "List rules by precedence", query: listPageSchema, response: "rules", paged: true },
  { method: "get", path: "/gateway/rules/:id", tag: gw, summary: "Get a rule", response: "the rule" },
  { method: "put", path: "/gateway/rules/:id", tag: gw, summary: "Update a rule", body: ruleSchema, response: "the rule" },
  { method: "delete", path: "/gateway/rules/:id", tag: gw, summary: "Delete a rule", response: "the rule" },
  { method: "get", path: "/gateway/logs/dns", tag: gw, summary: "The DNS activity log, newest first", query: dnsLogQuerySchema, response: "log entries (result_info.has_more, no total)", paged: true },
];

/** `/access/apps/:id` → `/access/apps/{id}`. */
export const openApiPath = (path: string) => path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, "{$1}");

type Json = Record<string, unknown>;

/** A zod schema as JSON Schema 2020-12 (the request side: defaults make fields optional), Access rules as `$ref`. */
export function jsonSchema(schema: z.ZodType): Json {
  const out = z.toJSONSchema(schema, {
    io: "input",
    unrepresentable: "any",
    override: (ctx) => {
      // RuleSchema is a transform (one selector key, checked by hand): documented as the Rule component.
      if (ctx.zodSchema === RuleSchema) {
        for (const key of Object.keys(ctx.jsonSchema)) delete (ctx.jsonSchema as Json)[key];
        (ctx.jsonSchema as Json).$ref = "#/components/schemas/Rule";
      }
    },
  }) as Json;
  delete out.$schema;
  return out;
}

/** The Rule component: exactly one selector key with its body. */
function ruleComponent(): Json {
  return {
    description: "An Access rule: an object with exactly one selector key",
    oneOf: Object.entries(RULE_BODIES).map(([key, body]) => ({ type: "object", properties: { [key]: jsonSchema(body) }, required: [key], additionalProperties: false })),
  };
}

/** Query parameters of an operation (from its query schema's top-level properties). */
export function queryParameters(op: Operation): Json[] {
  if (!op.query) return [];
  const schema = jsonSchema(op.query);
  const props = (schema.properties ?? {}) as Record<string, Json>;
  const required = new Set((schema.required ?? []) as string[]);
  return Object.entries(props).map(([name, s]) => ({ name, in: "query", required: required.has(name), ...(s.description ? { description: s.description } : {}), schema: s }));
}

/** Path parameters of an operation. */
export function pathParameters(op: Operation): Json[] {
  return [...op.path.matchAll(/:([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => ({ name: m[1], in: "path", required: true, schema: { type: "string" } }));
}

const errorResponse = (description: string) => ({ description, content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } });

/** The whole document; `serverUrl` is this deployment's `/api/v1`. */
export function openApiDocument(serverUrl: string): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const op of OPERATIONS) {
    const envelope = op.paged ? "#/components/schemas/PagedEnvelope" : "#/components/schemas/Envelope";
    const content = op.public ? {} : { content: { "application/json": { schema: { $ref: envelope } } } };
    (paths[openApiPath(op.path)] ??= {})[op.method] = {
      operationId: `${op.method}${openApiPath(op.path).replace(/[{}]/g, "").replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ?? "").toUpperCase())}`,
      tags: [op.tag],
      summary: op.summary,
      ...(op.public ? { security: [] } : {}),
      parameters: [...pathParameters(op), ...queryParameters(op)],
      ...(op.body ? { requestBody: { required: true, content: { "application/json": { schema: jsonSchema(op.body) } } } } : {}),
      responses: {
        "200": { description: op.response, ...content },
        ...(op.public
          ? {}
          : {
              "400": errorResponse("invalid input: the message names the field"),
              "401": errorResponse("no or unknown token"),
              "403": errorResponse("a read-only token on a write"),
              "404": errorResponse("not found (or another connection's id)"),
            }),
      },
    };
  }
  const envelope = {
    type: "object",
    required: ["success", "errors", "messages", "result"],
    properties: { success: { const: true }, errors: { type: "array", maxItems: 0 }, messages: { type: "array" }, result: {} },
  };
  return {
    openapi: "3.1.0",
    info: {
      title: "Zero Trust identity edge: admin API",
      version: "1",
      description:
        "Cloudflare's Zero Trust API shapes with /api/v1 for /accounts/{account_id}. Every answer is Cloudflare's v4 envelope. " +
        "Authenticate with `Authorization: Bearer <token>`: the ADMIN_TOKEN, or an API token (scope read: GET only; write: everything).",
    },
    servers: [{ url: serverUrl }],
    security: [{ bearer: [] }],
    tags: [...new Set(OPERATIONS.map((o) => o.tag))].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "ADMIN_TOKEN or an API token" } },
      schemas: {
        Rule: ruleComponent(),
        Envelope: envelope,
        PagedEnvelope: {
          ...envelope,
          properties: {
            ...envelope.properties,
            result: { type: "array" },
            result_info: { type: "object", properties: { page: { type: "integer" }, per_page: { type: "integer" }, count: { type: "integer" }, total_count: { type: "integer" }, total_pages: { type: "integer" } } },
          },
        },
        Error: {
          type: "object",
          required: ["success", "errors"],
          properties: {
            success: { const: false },
            errors: { type: "array", items: { type: "object", properties: { code: { type: "integer" }, message: { type: "string" } } } },
            messages: { type: "array" },
            result: { type: "null" },
          },
        },
      },
    },
  };
}

/** The document is the same for every request to one deployment: built once per isolate and server URL. */
const cache = new Map<string, Json>();
function documentFor(serverUrl: string): Json {
  let doc = cache.get(serverUrl);
  if (!doc) cache.set(serverUrl, (doc = openApiDocument(serverUrl)));
  return doc;
}

/** `GET /api/v1/openapi.json` and `GET /api/v1/docs`, public (see the header); mounted before the admin API. */
export const apiDocsRoutes = new Hono<AppEnv>();

const serverUrl = (c: { var: AppEnv["Variables"]; req: { url: string } }) => `${baseUrlFor(c.var.config, c.req.url)}/api/v1`;
apiDocsRoutes.get("/openapi.json", (c) => c.json(documentFor(serverUrl(c))));
apiDocsRoutes.get("/docs", (c) => c.html(renderReference(documentFor(serverUrl(c)))));
