import { Hono } from "hono";
import type { AppEnv } from "../http/app-env";
import { requireAdmin } from "../auth/admin-token";
import { baseUrlFor } from "../config";
import { envelope } from "../http/api-error";
import { jsonBody } from "../http/input";
import { parseListPage } from "../http/pagination";
import { createDevice, getDevice, listDevices, revokeDevice } from "../gateway/devices";
import { createRule, deleteRule, getRule, listRules, updateRule } from "../gateway/rules-store";
import { queryDnsLog } from "../gateway/dns-log";
import { createServiceToken, deleteServiceToken, getServiceToken, listServiceTokens, rotateServiceToken } from "../gateway/service-tokens";

/**
 * Gateway devices, rules and the DNS activity log (`/gateway/*`), and Access service tokens
 * (`/access/service_tokens`), mounted by `adminRoutes` under `/api/v1`. It checks the admin token
 * itself too, so it is never open wherever it is mounted.
 */
export const gatewayRoutes = new Hono<AppEnv>();

for (const path of ["/gateway/*", "/gateway", "/access/service_tokens", "/access/service_tokens/*"]) gatewayRoutes.use(path, requireAdmin);

// ---- Devices (the token is in the create answer only).
gatewayRoutes.post("/gateway/devices", async (c) => {
  return c.json(envelope(await createDevice(c.env, c.var.actor, await jsonBody(c.req.raw), baseUrlFor(c.var.config, c.req.url))));
});
gatewayRoutes.get("/gateway/devices", async (c) => {
  const { result, result_info } = await listDevices(c.env.DB, new URL(c.req.url).searchParams);
  return c.json(envelope(result, { result_info }));
});
gatewayRoutes.get("/gateway/devices/:id", async (c) => c.json(envelope(await getDevice(c.env.DB, c.req.param("id")))));
gatewayRoutes.delete("/gateway/devices/:id", async (c) => c.json(envelope(await revokeDevice(c.env, c.req.param("id"), c.var.actor))));

// ---- Access service tokens (the secret is in the create and rotate answers only).
gatewayRoutes.post("/access/service_tokens", async (c) => c.json(envelope(await createServiceToken(c.env.DB, c.var.actor, await jsonBody(c.req.raw)))));
gatewayRoutes.get("/access/service_tokens", async (c) => {
  const { result, result_info } = await listServiceTokens(c.env.DB, parseListPage(new URL(c.req.url)));
  return c.json(envelope(result, { result_info }));
});
gatewayRoutes.get("/access/service_tokens/:id", async (c) => c.json(envelope(await getServiceToken(c.env.DB, c.req.param("id")))));
gatewayRoutes.delete("/access/service_tokens/:id", async (c) => c.json(envelope(await deleteServiceToken(c.env.DB, c.var.actor, c.req.param("id")))));
gatewayRoutes.post("/access/service_tokens/:id/rotate", async (c) => c.json(envelope(await rotateServiceToken(c.env.DB, c.var.actor, c.req.param("id")))));

// ---- Rules (expressions parsed and checked against the directory when saved).
const rules = (c: { env: Env; var: AppEnv["Variables"] }) => ({ db: c.env.DB, actor: c.var.actor });
gatewayRoutes.post("/gateway/rules", async (c) => c.json(envelope(await createRule(rules(c), await jsonBody(c.req.raw)))));
gatewayRoutes.get("/gateway/rules", async (c) => {
  const { result, result_info } = await listRules(c.env.DB, parseListPage(new URL(c.req.url)));
  return c.json(envelope(result, { result_info }));
});
gatewayRoutes.get("/gateway/rules/:id", async (c) => c.json(envelope(await getRule(c.env.DB, c.req.param("id")))));
gatewayRoutes.put("/gateway/rules/:id", async (c) => c.json(envelope(await updateRule(rules(c), c.req.param("id"), await jsonBody(c.req.raw)))));
gatewayRoutes.delete("/gateway/rules/:id", async (c) => c.json(envelope(await deleteRule(rules(c), c.req.param("id")))));

// ---- The DNS activity log.
gatewayRoutes.get("/gateway/logs/dns", async (c) => {
  const { result, result_info } = await queryDnsLog(c.env.DB, new URL(c.req.url).searchParams);
  return c.json(envelope(result, { result_info }));
});
