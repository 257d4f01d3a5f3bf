import { Hono } from "hono";
import { z } from "zod";
import { apiErrors, envelope } from "../http/api-error";
import type { AppEnv } from "../http/app-env";
import { requireAdmin } from "../auth/admin-token";
import { sessionsFor } from "../sessions/client";
import { openSession } from "../sessions/service";
import type { CheckResult } from "../sessions/types";
import { seedGroup, seedUsers } from "./seed";

/**
 * Development-only routes (DEV_ROUTES=true, still behind the admin token): open and check
 * sessions until Access login exists (the revocation probe uses them), benchmark floors, seeding.
 */
export const devRoutes = new Hono<AppEnv>();

devRoutes.use("*", async (c, next) => {
  if (!c.var.config.devRoutes) throw apiErrors.notFound("Route");
  await next();
});
devRoutes.use("*", requireAdmin);

const openSchema = z.object({
  user_id: z.string().min(1),
  kind: z.enum(["access", "gateway"]),
  app_id: z.string().min(1).optional(),
  device_id: z.string().min(1).optional(),
  ttl_seconds: z.number().int().min(1).max(31 * 86_400).default(3600),
});

devRoutes.post("/sessions", async (c) => {
  const parsed = openSchema.safeParse(await c.req.json().catch(() => null));
  if (!parsed.success) throw apiErrors.invalid(parsed.error.issues[0]?.message ?? "invalid body");
  const b = parsed.data;
  if (b.kind === "gateway" && !b.device_id) throw apiErrors.invalid("device_id is required for gateway sessions");
  const input = b.kind === "access" ? { kind: "access" as const, appId: b.app_id, ttlSeconds: b.ttl_seconds } : { kind: "gateway" as const, deviceId: b.device_id!, ttlSeconds: b.ttl_seconds };
  const result = await openSession(c.env, b.user_id, input);
  if (!result.ok) return c.json({ success: false, errors: [{ code: 10403, message: `session refused: ${result.error}` }], messages: [], result: null }, 403);
  return c.json(envelope({ session_id: result.sessionId, expires_at: new Date(result.expiresAt).toISOString() }));
});

/**
 * The protected-request hot path in miniature: 200 only for a valid session, 401 with the reason
 * otherwise. When the user's Durable Object cannot answer (the client maps any object error to
 * `unavailable`; reaching the object at all may throw too), the session is NOT known to be valid,
 * so the check fails closed with 503 `{status:"unavailable"}`: a refusal, never a 200, and told
 * apart from a revocation (the revocation probe counts it as a server error, not a refusal).
 */
devRoutes.get("/sessions/check", async (c) => {
  const userId = c.req.query("user_id");
  const sessionId = c.req.query("session_id");
  if (!userId || !sessionId) throw apiErrors.invalid("user_id and session_id are required");
  let result: CheckResult;
  try {
    result = await sessionsFor(c.env, userId).check(sessionId);
  } catch (error) {
    console.error("session check failed; refusing", error instanceof Error ? error.name : "error");
    result = { status: "unavailable" };
  }
  if (result.status === "unavailable") return c.json(result, 503, { "retry-after": "1" });
  return c.json(result, result.status === "valid" ? 200 : 401);
});

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
