import { Hono } from "hono";
import type { AppEnv } from "../http/app-env";
import { requireAdmin } from "../auth/admin-token";
import { baseUrlFor } from "../config";
import { envelope } from "../http/api-error";
import { createApp, deleteApp, getApp, listApps, updateApp, type AppContext } from "../access/apps/apps";
import { createGroup, deleteGroup, getGroup, listGroups, updateGroup } from "../access/apps/groups";
import { hostName } from "../access/apps/domain";
import { jsonBody } from "../http/input";
import { parseListPage } from "../http/pagination";
import { createPolicy, deletePolicy, getPolicy, listPolicies, updatePolicy } from "../access/apps/policies";
import { simulate } from "../access/apps/simulate";
import { renderApp, renderGroup, renderPolicy } from "../access/apps/types";
import { invalidateAppHosts } from "../access/routing";
import { revokeAppTokens } from "../sessions/service";

/**
 * Access applications, their policies, reusable groups and the policy simulator (Cloudflare's
 * `/accounts/:id/access/apps`, `/access/apps/:id/policies`, `/access/groups` shapes), mounted by
 * `adminRoutes` under `/api/v1`. It checks the admin token itself too, so it is never open wherever it is mounted.
 */
export const accessRoutes = new Hono<AppEnv>();

accessRoutes.use("/access/apps/*", requireAdmin);
accessRoutes.use("/access/apps", requireAdmin);
accessRoutes.use("/access/groups/*", requireAdmin);
accessRoutes.use("/access/groups", requireAdmin);
// An app write may add or remove an app host: this isolate's router learns it at once (others within seconds).
for (const path of ["/access/apps", "/access/apps/*"]) {
  accessRoutes.use(path, async (c, next) => {
    await next();
    if (c.req.method !== "GET") invalidateAppHosts();
  });
}

type Ctx = { env: Env; var: AppEnv["Variables"]; req: { url: string } };

/** The app write context: the Worker's own host names (PUBLIC_BASE_URL's and the request's) are reserved. */
function appContext(c: Ctx): AppContext {
  const hosts = new Set([hostName(new URL(baseUrlFor(c.var.config, c.req.url)).host), hostName(new URL(c.req.url).host)]);
  return { db: c.env.DB, actor: c.var.actor, reservedHosts: [...hosts] };
}
const writer = (c: Ctx) => ({ db: c.env.DB, actor: c.var.actor });

// ---- Applications.
accessRoutes.post("/access/apps", async (c) => c.json(envelope(renderApp(await createApp(appContext(c), await jsonBody(c.req.raw))))));
accessRoutes.get("/access/apps", async (c) => {
  const { result, result_info } = await listApps(c.env.DB, parseListPage(new URL(c.req.url)));
  return c.json(envelope(result.map(renderApp), { result_info }));
});
accessRoutes.get("/access/apps/:id", async (c) => c.json(envelope(renderApp(await getApp(c.env.DB, c.req.param("id"))))));
accessRoutes.put("/access/apps/:id", async (c) => {
  return c.json(envelope(renderApp(await updateApp(appContext(c), c.req.param("id"), await jsonBody(c.req.raw)))));
});
accessRoutes.delete("/access/apps/:id", async (c) => {
  const id = c.req.param("id");
  await deleteApp(appContext(c), id);
  // The app is gone (no new session can be opened for it); now end the sessions opened for it.
  const { users, mode } = await revokeAppTokens(c.env, id, c.var.actor);
  return c.json(envelope({ id }, { revoked: { users, mode } }));
});

// ---- Policies.
accessRoutes.post("/access/apps/:id/policies", async (c) => {
  return c.json(envelope(renderPolicy(await createPolicy(writer(c), c.req.param("id"), await jsonBody(c.req.raw)))));
});
accessRoutes.get("/access/apps/:id/policies", async (c) => {
  const { result, result_info } = await listPolicies(c.env.DB, c.req.param("id"), parseListPage(new URL(c.req.url)));
  return c.json(envelope(result.map(renderPolicy), { result_info }));
});
accessRoutes.get("/access/apps/:id/policies/:policyId", async (c) => {
  return c.json(envelope(renderPolicy(await getPolicy(c.env.DB, c.req.param("id"), c.req.param("policyId")))));
});
accessRoutes.put("/access/apps/:id/policies/:policyId", async (c) => {
  const policy = await updatePolicy(writer(c), c.req.param("id"), c.req.param("policyId"), await jsonBody(c.req.raw));
  return c.json(envelope(renderPolicy(policy)));
});
accessRoutes.delete("/access/apps/:id/policies/:policyId", async (c) => {
  await deletePolicy(writer(c), c.req.param("id"), c.req.param("policyId"));
  return c.json(envelope({ id: c.req.param("policyId") }));
});

// ---- Policy simulator.
accessRoutes.post("/access/apps/:id/simulate", async (c) => c.json(envelope(await simulate(c.env.DB, c.req.param("id"), await jsonBody(c.req.raw)))));

// ---- Reusable groups.
accessRoutes.post("/access/groups", async (c) => c.json(envelope(renderGroup(await createGroup(writer(c), await jsonBody(c.req.raw))))));
accessRoutes.get("/access/groups", async (c) => {
  const { result, result_info } = await listGroups(c.env.DB, parseListPage(new URL(c.req.url)));
  return c.json(envelope(result.map(renderGroup), { result_info }));
});
accessRoutes.get("/access/groups/:id", async (c) => c.json(envelope(renderGroup(await getGroup(c.env.DB, c.req.param("id"))))));
accessRoutes.put("/access/groups/:id", async (c) => c.json(envelope(renderGroup(await updateGroup(writer(c), c.req.param("id"), await jsonBody(c.req.raw))))));
accessRoutes.delete("/access/groups/:id", async (c) => {
  await deleteGroup(writer(c), c.req.param("id"));
  return c.json(envelope({ id: c.req.param("id") }));
});
