import { Hono } from "hono";
import { z } from "zod";
import { apiErrors, envelope } from "../../http/api-error";
import type { AppEnv } from "../../http/app-env";
import { keySettings, ROTATION_INTERVAL_BOUNDS, rotateSigningKey, setRotationIntervalDays } from "./keys";

/**
 * Cloudflare's Access key-rotation API (`/accounts/{id}/access/keys`), mounted in the admin API
 * (which authenticates): settings, and rotation on demand.
 */
export const accessKeyRoutes = new Hono<AppEnv>();

const updateSchema = z.object({
  key_rotation_interval_days: z.number().int().min(ROTATION_INTERVAL_BOUNDS.min).max(ROTATION_INTERVAL_BOUNDS.max),
});

accessKeyRoutes.get("/access/keys", async (c) => c.json(envelope(await keySettings(c.env))));

accessKeyRoutes.put("/access/keys", async (c) => {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    throw apiErrors.invalid("The request body must be JSON");
  }
  const parsed = updateSchema.safeParse(body);
  if (!parsed.success) {
    const { min, max } = ROTATION_INTERVAL_BOUNDS;
    throw apiErrors.invalid(`key_rotation_interval_days: an integer from ${min} to ${max} is required`);
  }
  await setRotationIntervalDays(c.env.DB, parsed.data.key_rotation_interval_days, c.var.actor);
  return c.json(envelope(await keySettings(c.env)));
});

accessKeyRoutes.post("/access/keys/rotate", async (c) => {
  await rotateSigningKey(c.env, c.var.actor);
  return c.json(envelope(await keySettings(c.env)));
});

/** The key-settings body schema, for the OpenAPI document (src/admin/openapi.ts). */
export { updateSchema as keySettingsSchema };
