import { Hono, type Context } from "hono";
import { resourceType, resourceTypesList, schema, schemasList, serviceProviderConfig } from "../scim/discovery";
import { ScimError, scimErrors, unwrap } from "../scim/errors";
import { cursorListResponse, listResponse, type PageCursors } from "../scim/list-response";
import { parseListParams, type ListParams } from "../scim/list-params";
import { project, wantsAttribute } from "../scim/projection";
import type { ScimObject } from "./context";
import { etagOf, notModified } from "./etag";
import { createGroup, deleteGroup, getGroup, groupResource, patchGroup, replaceGroup } from "./groups";
import { renderGroup, type GroupRow } from "./group-record";
import { membersByGroup, membersOfGroups, membersStatement } from "./group-store";
import { listRows, searchAllRows } from "./list";
import { provisioningLogger } from "./scim-log";
import { scimAuth } from "./scim-auth";
import type { ScimEnv } from "./scim-env";
import { readScimJson, scimJson, versionOf } from "./scim-http";
import { createUser, deleteUser, getUser, patchUser, replaceUser } from "./users";
import { renderUser, type UserRow } from "./user-record";
import { groupsOfUsers } from "../db/memberships";
import { groupsColumnSql, groupsFromColumn } from "./user-store";

/** The SCIM 2.0 service provider of one IdP connection, mounted at `/populations/:idpId/scim/v2`. */
export const scimRoutes = new Hono<ScimEnv>();

scimRoutes.use("*", provisioningLogger, scimAuth);

/** RFC 7644 §4: discovery endpoints SHOULD answer a `filter` with 403. */
async function discoveryNoFilter(c: Context<ScimEnv>, next: () => Promise<void>) {
  if (new URL(c.req.url).searchParams.has("filter")) throw new ScimError(403, "Filtering is not supported on discovery endpoints");
  await next();
}

function queryParams(c: Context<ScimEnv>): ListParams {
  return unwrap(parseListParams(new URL(c.req.url).searchParams, { maxResults: c.var.config.maxResults }));
}

/** Renders one resource honouring `attributes`/`excludedAttributes` (RFC 7644 §3.4.2.5, §3.9). */
function respond(c: Context<ScimEnv>, type: "User" | "Group", resource: ScimObject, params: ListParams, status: 200 | 201 = 200) {
  c.set("scimResource", resource);
  const location = status === 201 ? ((resource.meta as { location?: string }).location ?? undefined) : undefined;
  return scimJson(c, project(resource, type, params), status, versionOf(resource), location);
}

// ---- Discovery (RFC 7644 §4): generated from the one attribute registry; filters are refused with 403.
scimRoutes.use("/ServiceProviderConfig", discoveryNoFilter);
scimRoutes.use("/ResourceTypes/*", discoveryNoFilter);
scimRoutes.use("/ResourceTypes", discoveryNoFilter);
scimRoutes.use("/Schemas/*", discoveryNoFilter);
scimRoutes.use("/Schemas", discoveryNoFilter);
const limits = (c: Context<ScimEnv>) => ({ maxResults: c.var.config.maxResults, maxPayloadSize: c.var.config.maxPayloadBytes });
scimRoutes.get("/ServiceProviderConfig", (c) => scimJson(c, serviceProviderConfig(c.var.directory.scimBase, limits(c))));
scimRoutes.get("/ResourceTypes", (c) => scimJson(c, resourceTypesList(c.var.directory.scimBase)));
scimRoutes.get("/ResourceTypes/:id", (c) => {
  const found = resourceType(c.var.directory.scimBase, c.req.param("id"));
  if (!found) throw scimErrors.notFound(`Resource type ${c.req.param("id")} not found`);
  return scimJson(c, found);
});
scimRoutes.get("/Schemas", (c) => scimJson(c, schemasList(c.var.directory.scimBase)));
scimRoutes.get("/Schemas/:id", (c) => {
  const found = schema(c.var.directory.scimBase, c.req.param("id"));
  if (!found) throw scimErrors.notFound(`Schema ${c.req.param("id")} not found`);
  return scimJson(c, found);
});

// ---- Lists and searches (RFC 7644 §3.4.2, §3.4.3; cursor paging RFC 9865).
/** Index paging answers with `startIndex`; cursor paging (the request named `cursor`) with its cursors instead. */
function page<T>(params: ListParams, resources: T[], totalResults: number, cursors: PageCursors | undefined) {
  return params.cursor !== undefined ? cursorListResponse(resources, totalResults, cursors ?? {}) : listResponse(resources, totalResults, params.startIndex);
}

async function listUsers(c: Context<ScimEnv>, params: ListParams) {
  const ctx = c.var.directory;
  const withGroups = wantsAttribute(params, "groups", "User");
  // Each user's groups come as a column of the page rows: the filter runs once (see groupsColumnSql).
  const { rows, totalResults, cursors } = await listRows<UserRow>(ctx, "User", params, undefined, withGroups ? groupsColumnSql("u") : undefined);
  const groups = withGroups ? groupsFromColumn(rows as unknown as Record<string, unknown>[]) : undefined;
  const resources = rows.map((r) => project(renderUser(r, ctx.scimBase, groups?.get(r.id)), "User", params));
  return scimJson(c, page(params, resources, totalResults, cursors));
}

async function listGroups(c: Context<ScimEnv>, params: ListParams) {
  const ctx = c.var.directory;
  // `excludedAttributes=members` (what Entra and Okta send) never touches group_members.
  const withMembers = wantsAttribute(params, "members", "Group");
  const { rows, totalResults, related, cursors } = await listRows<GroupRow>(ctx, "Group", params, withMembers ? (ids) => membersStatement(ctx, ids) : undefined);
  const ids = rows.map((r) => r.id);
  const members = withMembers ? (related ? membersByGroup(ids, related) : await membersOfGroups(ctx, ids)) : undefined;
  const resources = rows.map((r) => project(renderGroup(r, ctx.scimBase, members?.get(r.id)), "Group", params));
  return scimJson(c, page(params, resources, totalResults, cursors));
}

async function searchBody(c: Context<ScimEnv>): Promise<ListParams> {
  return unwrap(parseListParams((await readScimJson(c)) as Record<string, unknown>, { maxResults: c.var.config.maxResults }));
}

scimRoutes.post("/.search", async (c) => {
  const ctx = c.var.directory;
  const params = await searchBody(c);
  const { users, groups, totalResults } = await searchAllRows<UserRow, GroupRow>(ctx, params);
  const userGroups = wantsAttribute(params, "groups", "User") ? await groupsOfUsers(ctx.db, users.map((r) => r.id)) : undefined;
  const members = wantsAttribute(params, "members", "Group") ? await membersOfGroups(ctx, groups.map((r) => r.id)) : undefined;
  const resources = [
    ...users.map((r) => project(renderUser(r, ctx.scimBase, userGroups?.get(r.id)), "User", params)),
    ...groups.map((r) => project(renderGroup(r, ctx.scimBase, members?.get(r.id)), "Group", params)),
  ];
  return scimJson(c, listResponse(resources, totalResults, params.startIndex));
});
scimRoutes.get("/Users", (c) => listUsers(c, queryParams(c)));
scimRoutes.post("/Users/.search", async (c) => listUsers(c, await searchBody(c)));
scimRoutes.get("/Groups", (c) => listGroups(c, queryParams(c)));
scimRoutes.post("/Groups/.search", async (c) => listGroups(c, await searchBody(c)));

// ---- Users (RFC 7644 §3.3, §3.4.1, §3.5, §3.6).
scimRoutes.post("/Users", async (c) => respond(c, "User", await createUser(c.var.directory, await readScimJson(c)), queryParams(c), 201));
scimRoutes.get("/Users/:id", async (c) => {
  const params = queryParams(c);
  const { resource, version } = await getUser(c.var.directory, c.req.param("id"), wantsAttribute(params, "groups", "User"));
  if (notModified(c.req.header("if-none-match"), version)) return c.body(null, 304);
  return respond(c, "User", resource, params);
});
scimRoutes.put("/Users/:id", async (c) =>
  respond(c, "User", await replaceUser(c.var.directory, c.req.param("id"), await readScimJson(c), c.req.header("if-match")), queryParams(c)),
);
scimRoutes.patch("/Users/:id", async (c) =>
  respond(c, "User", await patchUser(c.var.directory, c.req.param("id"), await readScimJson(c), c.req.header("if-match")), queryParams(c)),
);
scimRoutes.delete("/Users/:id", async (c) => {
  c.set("scimLogHint", { cfResourceId: c.req.param("id") });
  const gone = await deleteUser(c.var.directory, c.req.param("id"), c.req.header("if-match"));
  c.set("scimLogHint", { cfResourceId: c.req.param("id"), email: gone.email, idpResourceId: gone.externalId });
  return c.body(null, 204);
});

// ---- Groups.
scimRoutes.post("/Groups", async (c) => respond(c, "Group", await createGroup(c.var.directory, await readScimJson(c)), queryParams(c), 201));
scimRoutes.get("/Groups/:id", async (c) => {
  const params = queryParams(c);
  const { resource, version } = await getGroup(c.var.directory, c.req.param("id"), wantsAttribute(params, "members", "Group"));
  if (notModified(c.req.header("if-none-match"), version)) return c.body(null, 304);
  return respond(c, "Group", resource, params);
});
scimRoutes.put("/Groups/:id", async (c) => {
  const params = queryParams(c);
  const body = await readScimJson(c);
  const row = await replaceGroup(c.var.directory, c.req.param("id"), body, c.req.header("if-match"));
  return respond(c, "Group", await groupResource(c.var.directory, row, wantsAttribute(params, "members", "Group")), params);
});
/**
 * RFC 7644 §3.5.2: a PATCH answers 200 with the resource (subject to `attributes`) or 204. Without
 * `attributes`/`excludedAttributes` it is 204 No Content, as in Entra ID's documented exchange: a
 * large group's member list is never sent (or read) unasked. For a members-only PATCH without
 * `If-Match`, `row` is what the write's own `UPDATE … RETURNING *` returned (no read before it).
 */
scimRoutes.patch("/Groups/:id", async (c) => {
  const params = queryParams(c);
  const body = await readScimJson(c);
  const ctx = c.var.directory;
  const row = await patchGroup(ctx, c.req.param("id"), body, c.req.header("if-match"));
  if (params.attributes === undefined && params.excludedAttributes === undefined) {
    // The provisioning log's fields, without loading members.
    c.set("scimResource", { id: row.id, displayName: row.display_name, ...(row.external_id !== null ? { externalId: row.external_id } : {}) });
    return c.body(null, 204, { etag: etagOf(row.version) });
  }
  return respond(c, "Group", await groupResource(ctx, row, wantsAttribute(params, "members", "Group")), params);
});
scimRoutes.delete("/Groups/:id", async (c) => {
  c.set("scimLogHint", { cfResourceId: c.req.param("id") });
  const gone = await deleteGroup(c.var.directory, c.req.param("id"), c.req.header("if-match"));
  c.set("scimLogHint", { cfResourceId: c.req.param("id"), groupName: gone.displayName, idpResourceId: gone.externalId });
  return c.body(null, 204);
});

// Bulk is not offered (ServiceProviderConfig says so); anything else is a SCIM 404 or 405.
scimRoutes.all("/Bulk", () => {
  throw scimErrors.notImplemented("Bulk operations are not supported (see /ServiceProviderConfig)");
});
scimRoutes.all("/Users", () => {
  throw scimErrors.methodNotAllowed("Method not allowed on /Users");
});
scimRoutes.all("/Groups", () => {
  throw scimErrors.methodNotAllowed("Method not allowed on /Groups");
});
scimRoutes.all("*", (c) => {
  throw scimErrors.notFound(`No SCIM endpoint at ${new URL(c.req.url).pathname}`);
});
