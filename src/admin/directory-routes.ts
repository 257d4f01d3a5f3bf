// /api/v1 endpoints behind the dashboard's directory pages (users across connections, one user's
// detail and revoke-all, group members, a connection's last sync). Mounted by ./routes.ts.
import { Hono } from "hono";
import type { AppEnv } from "../http/app-env";
import { database } from "../db";
import { envelope } from "../http/api-error";
import { getIdentityProvider } from "./identity-providers";
import { listGroupMembers, parsePageQuery, parseQuery, revokeUserSessions, scimSyncStatus, searchUsers, userDetail, userSearchSchema } from "./directory-search";

/** Directory endpoints for the dashboard (behind `requireAdmin`, like every /api/v1 route). */
export const directoryRoutes = new Hono<AppEnv>();

directoryRoutes.get("/access/users", async (c) => {
  const { result, result_info } = await searchUsers(c.env.DB, parseQuery(userSearchSchema, new URL(c.req.url)));
  return c.json(envelope(result, { result_info }));
});
directoryRoutes.get("/access/users/:id", async (c) => c.json(envelope(await userDetail(c.env, c.req.param("id")))));
directoryRoutes.post("/access/users/:id/revoke_sessions", async (c) => {
  const { revokedSessions } = await revokeUserSessions(c.env, c.req.param("id"), c.var.actor);
  return c.json(envelope({ id: c.req.param("id"), revoked_sessions: revokedSessions }));
});
directoryRoutes.get("/access/identity_providers/:id/scim/status", async (c) => {
  const idp = await getIdentityProvider(database(c.env), c.req.param("id"));
  return c.json(envelope(await scimSyncStatus(c.env.DB, idp.id)));
});
directoryRoutes.get("/access/identity_providers/:id/scim/groups/:groupId/members", async (c) => {
  const idp = await getIdentityProvider(database(c.env), c.req.param("id"));
  const { result, result_info } = await listGroupMembers(c.env.DB, idp.id, c.req.param("groupId"), parsePageQuery(new URL(c.req.url)));
  return c.json(envelope(result, { result_info }));
});
