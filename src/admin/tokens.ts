import { Hono } from "hono";
import type { AppEnv } from "../http/app-env";
import { requireAdmin } from "../auth/admin-token";
import { envelope } from "../http/api-error";
import { jsonBody } from "../http/input";
import { parseListPage } from "../http/pagination";
import { createApiToken, listApiTokens, revokeApiToken } from "../auth/api-tokens";
import { dashboardPolicy, saveDashboardPolicy } from "../access/dashboard-policy";
import { apiErrors } from "../http/api-error";

/**
 * API tokens for scripts (`/tokens`: create shows the secret once, list, revoke) and the dashboard's
 * own Access policy (`/dashboard/policy`), mounted by `adminRoutes` under `/api/v1`. It checks the
 * admin token itself too (a read token may list, never create or revoke).
 */
export const tokenRoutes = new Hono<AppEnv>();

for (const path of ["/tokens", "/tokens/*", "/dashboard/policy"]) tokenRoutes.use(path, requireAdmin);

tokenRoutes.post("/tokens", async (c) => c.json(envelope(await createApiToken(c.env.DB, c.var.actor, await jsonBody(c.req.raw)))));
tokenRoutes.get("/tokens", async (c) => {
  const { result, result_info } = await listApiTokens(c.env.DB, parseListPage(new URL(c.req.url)));
  return c.json(envelope(result, { result_info }));
});
tokenRoutes.delete("/tokens/:id", async (c) => c.json(envelope(await revokeApiToken(c.env.DB, c.var.actor, c.req.param("id")))));

tokenRoutes.get("/dashboard/policy", async (c) => {
  const policy = await dashboardPolicy(c.env.DB);
  if (!policy) throw apiErrors.notFound("Dashboard policy (run the first-run set-up at /dashboard/setup)");
  return c.json(envelope(policy));
});
tokenRoutes.put("/dashboard/policy", async (c) => c.json(envelope(await saveDashboardPolicy(c.env.DB, c.var.actor, await jsonBody(c.req.raw)))));
