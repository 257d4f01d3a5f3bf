import { Hono } from "hono";
import type { AppEnv } from "../app-env";
import { requireAdmin } from "../auth/admin-token";
import { baseUrlFor } from "../config";
import { database } from "../db";
import { parseLogQuery, queryProvisioningLog } from "../logs/provisioning-log";
import { apiErrors, envelope } from "./api-error";
import { listScimGroups, listScimUsers } from "./directory-views";
import {
  createIdentityProvider,
  deleteIdentityProvider,
  getIdentityProvider,
  listIdentityProviders,
  renderIdentityProvider,
  rotateScimSecret,
  updateIdentityProvider,
} from "./identity-providers";

/** The admin API (Cloudflare's Zero Trust paths with `/api/v1` for `/accounts/{account_id}`). */
export const adminRoutes = new Hono<AppEnv>();

adminRoutes.use("*", requireAdmin);

async function jsonBody(req: Request): Promise<unknown> {
  try {
    return await req.json();
  } catch {
    throw apiErrors.invalid("The request body must be JSON");
  }
}

const base = (c: { var: AppEnv["Variables"]; req: { url: string } }) => baseUrlFor(c.var.config, c.req.url);

adminRoutes.post("/access/identity_providers", async (c) => {
  const { row, secret } = await createIdentityProvider(database(c.env), c.var.actor, await jsonBody(c.req.raw));
  return c.json(envelope(renderIdentityProvider(row, base(c), secret)));
});
adminRoutes.get("/access/identity_providers", async (c) => {
  const rows = await listIdentityProviders(database(c.env));
  return c.json(envelope(rows.map((r) => renderIdentityProvider(r, base(c)))));
});
adminRoutes.get("/access/identity_providers/:id", async (c) => {
  return c.json(envelope(renderIdentityProvider(await getIdentityProvider(database(c.env), c.req.param("id")), base(c))));
});
for (const method of ["put", "patch"] as const) {
  adminRoutes[method]("/access/identity_providers/:id", async (c) => {
    const row = await updateIdentityProvider(database(c.env), c.var.actor, c.req.param("id"), await jsonBody(c.req.raw));
    return c.json(envelope(renderIdentityProvider(row, base(c))));
  });
}
adminRoutes.delete("/access/identity_providers/:id", async (c) => {
  await deleteIdentityProvider(database(c.env), c.var.actor, c.req.param("id"));
  return c.json(envelope({ id: c.req.param("id") }));
});
adminRoutes.post("/access/identity_providers/:id/refresh_scim_secret", async (c) => {
  const { row, secret } = await rotateScimSecret(database(c.env), c.var.actor, c.req.param("id"));
  return c.json(envelope(renderIdentityProvider(row, base(c), secret)));
});
adminRoutes.get("/access/identity_providers/:id/scim/users", async (c) => {
  const idp = await getIdentityProvider(database(c.env), c.req.param("id"));
  const { result, result_info } = await listScimUsers(c.env.DB, idp.id, new URL(c.req.url));
  return c.json(envelope(result, { result_info }));
});
adminRoutes.get("/access/identity_providers/:id/scim/groups", async (c) => {
  const idp = await getIdentityProvider(database(c.env), c.req.param("id"));
  const { result, result_info } = await listScimGroups(c.env.DB, idp.id, new URL(c.req.url));
  return c.json(envelope(result, { result_info }));
});
adminRoutes.get("/access/logs/scim/updates", async (c) => {
  return c.json(envelope(await queryProvisioningLog(database(c.env), parseLogQuery(new URL(c.req.url)))));
});
adminRoutes.all("*", () => {
  throw apiErrors.notFound("Route");
});
