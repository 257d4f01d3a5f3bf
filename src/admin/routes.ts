import { Hono } from "hono";
import type { AppEnv } from "../http/app-env";
import { requireAdmin } from "../auth/admin-token";
import { baseUrlFor } from "../config";
import { database } from "../db";
import { queryAuditLog } from "../logs/audit";
import { parseLogQuery, queryProvisioningLog } from "../logs/provisioning-log";
import { z } from "zod";
import { apiErrors, envelope } from "../http/api-error";
import { parseListPage } from "../http/pagination";
import { listScimGroups, listScimUsers } from "./directory-views";
import { accessRoutes } from "./access-routes";
import { accessKeyRoutes } from "../access/tokens/routes";
import { gatewayRoutes } from "./gateway-routes";
import { driftReport, parseDriftQuery } from "./drift";
import { tokenRoutes } from "./tokens";
import { directoryRoutes } from "./directory-routes";
import { getDeadLetter, listDeadLetters, redriveDeadLetter } from "../sessions/dead-letters";
import { activeSessions, revokeAppTokens, revokeOneSession, revokeUserByEmail, seatUsage } from "../sessions/service";
import {
  createIdentityProvider,
  deleteIdentityProvider,
  getIdentityProvider,
  listIdentityProvidersPage,
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
  const { row, secret } = await createIdentityProvider(c.env, c.var.actor, await jsonBody(c.req.raw));
  return c.json(envelope(renderIdentityProvider(row, base(c), secret)));
});
adminRoutes.get("/access/identity_providers", async (c) => {
  const { rows, result_info } = await listIdentityProvidersPage(database(c.env), parseListPage(new URL(c.req.url)));
  return c.json(envelope(rows.map((r) => renderIdentityProvider(r, base(c))), { result_info }));
});
adminRoutes.get("/access/identity_providers/:id", async (c) => {
  return c.json(envelope(renderIdentityProvider(await getIdentityProvider(database(c.env), c.req.param("id")), base(c))));
});
for (const method of ["put", "patch"] as const) {
  adminRoutes[method]("/access/identity_providers/:id", async (c) => {
    const row = await updateIdentityProvider(c.env, c.var.actor, c.req.param("id"), await jsonBody(c.req.raw));
    return c.json(envelope(renderIdentityProvider(row, base(c))));
  });
}
adminRoutes.delete("/access/identity_providers/:id", async (c) => {
  // Its users disappear with it, and their sessions are revoked: before the response for up to 100
  // users with sessions (200), else by the queue after it (202, `sessions.status = "pending"`).
  const { usersWithSessions, sessions } = await deleteIdentityProvider(c.env, c.var.actor, c.req.param("id"));
  const body = envelope({ id: c.req.param("id"), sessions: { users: usersWithSessions, status: sessions === "done" ? "revoked" : "pending" } });
  if (sessions === "done") return c.json(body);
  return c.json({ ...body, messages: [{ code: 10202, message: "The connection is deleted and no new session can be opened for its users; their existing sessions are being revoked by the queue" }] }, 202);
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

// ---- Sessions (Cloudflare's revocation APIs).
adminRoutes.post("/access/organizations/revoke_user", async (c) => {
  const body = (await jsonBody(c.req.raw)) as { email?: unknown };
  if (typeof body?.email !== "string" || !body.email.includes("@")) throw apiErrors.invalid("email: an email address is required");
  const { users, revokedSessions } = await revokeUserByEmail(c.env, body.email, c.var.actor);
  return c.json(envelope(true, { revoked: { users, sessions: revokedSessions } }));
});
adminRoutes.get("/access/users/:id/active_sessions", async (c) => {
  const sessions = await activeSessions(c.env, c.req.param("id"));
  return c.json(
    envelope(
      sessions.map((s) => ({
        id: s.id,
        kind: s.kind,
        app_id: s.appId,
        device_id: s.deviceId,
        created_at: new Date(s.createdAt).toISOString(),
        expires_at: new Date(s.expiresAt).toISOString(),
        last_seen_at: new Date(s.lastSeenAt).toISOString(),
      })),
    ),
  );
});
adminRoutes.delete("/access/users/:id/active_sessions/:sessionId", async (c) => {
  await revokeOneSession(c.env, c.req.param("id"), c.req.param("sessionId"), c.var.actor);
  return c.json(envelope({ id: c.req.param("sessionId") }));
});
adminRoutes.post("/access/apps/:appId/revoke_tokens", async (c) => {
  const { users, mode } = await revokeAppTokens(c.env, c.req.param("appId"), c.var.actor);
  return c.json(envelope(null, { revoked: { users, mode } }));
});
adminRoutes.get("/access/seats", async (c) => c.json(envelope(await seatUsage(c.env))));

// ---- Identity changes the queue gave up on (its dead-letter queue).
export const deadLetterQuerySchema = z.object({
  page: z.coerce.number().int().min(1).default(1),
  per_page: z.coerce.number().int().min(1).max(1000).default(50),
  status: z.enum(["unresolved", "resolved", "all"]).default("unresolved"),
});
adminRoutes.get("/access/identity_changes/dead_letters", async (c) => {
  const parsed = deadLetterQuerySchema.safeParse(Object.fromEntries(new URL(c.req.url).searchParams));
  if (!parsed.success) throw apiErrors.invalid(`${parsed.error.issues[0]?.path.join(".")}: ${parsed.error.issues[0]?.message}`);
  const { result, result_info } = await listDeadLetters(c.env.DB, { page: parsed.data.page, perPage: parsed.data.per_page, status: parsed.data.status });
  return c.json(envelope(result, { result_info }));
});
adminRoutes.get("/access/identity_changes/dead_letters/:id", async (c) => c.json(envelope(await getDeadLetter(c.env.DB, c.req.param("id")))));
adminRoutes.post("/access/identity_changes/dead_letters/:id/redrive", async (c) => {
  return c.json(envelope(await redriveDeadLetter(c.env, c.req.param("id"), c.var.actor)));
});

export const auditQuerySchema = z.object({
  since: z.iso.datetime({ offset: true }).transform((v) => new Date(v).toISOString()).optional(),
  until: z.iso.datetime({ offset: true }).transform((v) => new Date(v).toISOString()).optional(),
  action: z.string().max(128).optional(),
  actor: z.string().max(128).optional(),
  target_id: z.string().max(128).optional(),
  direction: z.enum(["asc", "desc"]).default("desc"),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
adminRoutes.get("/audit_logs", async (c) => {
  const parsed = auditQuerySchema.safeParse(Object.fromEntries(new URL(c.req.url).searchParams));
  if (!parsed.success) throw apiErrors.invalid(`${parsed.error.issues[0]?.path.join(".")}: ${parsed.error.issues[0]?.message}`);
  const { target_id, ...rest } = parsed.data;
  return c.json(envelope(await queryAuditLog(c.env.DB, { ...rest, targetId: target_id })));
});

// The directory drift report (src/admin/drift.ts).
adminRoutes.get("/drift", async (c) => c.json(envelope(await driftReport(c.env, parseDriftQuery(new URL(c.req.url).searchParams)))));

// Access apps, policies, reusable groups and the simulator (src/admin/access-routes.ts).
adminRoutes.route("/", accessRoutes);
// Access signing keys: rotation settings and rotate-now (src/access/tokens/routes.ts).
adminRoutes.route("/", accessKeyRoutes);
// Gateway devices, rules, DNS log and Access service tokens (src/admin/gateway-routes.ts).
adminRoutes.route("/", gatewayRoutes);
// API tokens for scripts and the dashboard's own Access policy (src/admin/tokens.ts).
adminRoutes.route("/", tokenRoutes);
// Users across connections, user detail and revoke-all, group members, sync status (src/admin/directory-routes.ts).
adminRoutes.route("/", directoryRoutes);

adminRoutes.all("*", () => {
  throw apiErrors.notFound("Route");
});
