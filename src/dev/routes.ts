import { Hono } from "hono";
import { z } from "zod";
import { apiErrors, envelope } from "../http/api-error";
import type { AppEnv } from "../http/app-env";
import { requireAdmin } from "../auth/admin-token";
import { sessionsFor } from "../sessions/client";
import { teamOrigin } from "../access/login/team";
import { verifyAccessToken } from "../access/tokens/jwt";
import { seedGroup, seedUsers } from "./seed";

/**
 * Development-only routes (DEV_ROUTES=true, still behind the admin token): benchmark floors and
 * seeding. Sessions are opened only by a real Access login (the development IdP at /__dev/idp
 * under `npm run dev`) and checked only by proxied requests.
 */
export const devRoutes = new Hono<AppEnv>();

devRoutes.use("*", async (c, next) => {
  if (!c.var.config.devRoutes) throw apiErrors.notFound("Route");
  await next();
});
devRoutes.use("*", requireAdmin);

// ---- Benchmark floors: the same Worker, one bare operation.
devRoutes.get("/bench/floor", async (c) => {
  const row = await c.env.DB.prepare("SELECT * FROM users WHERE id = ?").bind(c.req.query("id") ?? "").first();
  return c.json(row);
});
/** Floor for bench/paging.mjs: the same 100 users a cursor page reads, by the same keyset seek, returned bare. */
devRoutes.get("/bench/floor-page", async (c) => {
  const q = (k: string) => c.req.query(k) ?? "";
  const { results } = await c.env.DB.prepare("SELECT * FROM users WHERE idp_id = ? AND (created_at, id) > (?, ?) ORDER BY created_at, id LIMIT ?")
    .bind(q("idp_id"), q("after_created"), q("after_id"), Number(q("count") || 100))
    .all();
  return c.json(results);
});
// Write floors for the throughput bench: the least a SCIM write can cost. `floor-write` is one
// `db.batch` holding one single-row UPDATE (every SCIM write is one batch); `floor-write-do` adds
// one Durable Object RPC after it, as a deactivation with `user_deprovision` on does. Both answer
// `{ changes }` so the bench can check they really wrote.
async function floorWrite(db: D1Database, id: string): Promise<number> {
  const [res] = await db.batch([db.prepare("UPDATE users SET updated_at = ? WHERE id = ?").bind(new Date().toISOString(), id)]);
  return res?.meta.changes ?? 0;
}
devRoutes.post("/bench/floor-write", async (c) => {
  return c.json({ changes: await floorWrite(c.env.DB, c.req.query("id") ?? "") });
});
devRoutes.post("/bench/floor-write-do", async (c) => {
  const id = c.req.query("id") ?? "";
  const changes = await floorWrite(c.env.DB, id);
  await sessionsFor(c.env, id || "bench").noop();
  return c.json({ changes });
});
devRoutes.get("/bench/do-noop", async (c) => {
  await sessionsFor(c.env, c.req.query("user_id") ?? "bench").noop();
  return c.json({ ok: true });
});
devRoutes.get("/bench/do-check", async (c) => {
  const result = await sessionsFor(c.env, c.req.query("user_id") ?? "bench").check(c.req.query("session_id") ?? "");
  return c.json(result);
});

/**
 * Floor for bench/access.mjs: JWT verification alone (signature, `kid`, `aud`, `type`, `iss`,
 * times), the first step of every proxied request, without the Durable Object check or the origin.
 * `aud` is the app's audience tag; the issuer is the team host the proxy would expect.
 */
devRoutes.get("/bench/jwt-verify", async (c) => {
  const team = teamOrigin(c.var.config, c.req.url);
  const result = await verifyAccessToken(c.env, c.req.query("token") ?? "", { audience: c.req.query("aud") ?? "", type: "app", issuer: team });
  return c.json(result.ok ? { ok: true, sub: result.claims.sub } : { ok: false, reason: result.reason }, result.ok ? 200 : 401);
});

const seedSchema = z.object({
  idp_id: z.string().min(1),
  prefix: z.string().regex(/^[a-z0-9-]{1,32}$/).default("bench-u"),
  users: z.object({ from: z.number().int().min(1), count: z.number().int().min(1).max(20_000) }).optional(),
  group: z.object({ display_name: z.string().min(1), size: z.number().int().min(0).max(200_000) }).optional(),
});

devRoutes.post("/bench/seed", async (c) => {
  const parsed = seedSchema.safeParse(await c.req.json().catch(() => null));
  if (!parsed.success) throw apiErrors.invalid(parsed.error.issues[0]?.message ?? "invalid body");
  const { idp_id, prefix, users, group } = parsed.data;
  if (users) await seedUsers(c.env.DB, idp_id, users.from, users.count, prefix);
  const groupId = group ? await seedGroup(c.env.DB, idp_id, group.display_name, group.size, prefix) : undefined;
  // What the daily cron does in production: planner statistics after a bulk load.
  await c.env.DB.prepare("PRAGMA optimize").run();
  return c.json(envelope({ group_id: groupId ?? null }));
});
