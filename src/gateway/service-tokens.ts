// Access service tokens (Cloudflare's `/access/service_tokens`): a client id and secret for scripts,
// sent as `Cf-Access-Client-Id` / `Cf-Access-Client-Secret`. The secret is shown once (at creation and
// rotation) and kept as SHA-256 only. Here they authenticate `GET /cdn-cgi/access/doh-token`.
import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../http/app-env";
import { ApiError, apiErrors } from "../http/api-error";
import { auditStatement } from "../logs/audit";
import { parseBody } from "../http/input";
import { FIRST_PAGE, pagedRows, type ListPage, type Paged } from "../http/pagination";
import { baseUrlFor } from "../config";
import { randomHex, sha256Hex, timingSafeEqualHex } from "../lib/crypto";
import { issueDevice, issueRefusal } from "./devices";

interface ServiceTokenRow {
  id: string;
  name: string;
  client_id: string;
  client_secret_hash: string;
  created_at: string;
  expires_at: string;
  last_seen_at: string | null;
}

/** A service token as listed (never with its secret). */
export interface ServiceTokenView {
  id: string;
  name: string;
  client_id: string;
  created_at: string;
  expires_at: string;
  last_seen_at: string | null;
}


/** Cloudflare's shapes: `<32 hex>.access` and a 64-hex secret (256 bits). */
const newClientId = () => `${randomHex(16)}.access`;
const newClientSecret = () => randomHex(32);

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3 };
/** Cloudflare's default validity: one year, written in hours as its API does. */
const DEFAULT_DURATION = "8760h";
const MIN_DURATION_MS = 60_000;
const MAX_DURATION_MS = 10 * 8760 * 3600e3;

/** A Go duration (`8760h`, `2h45m`, `90m`), Cloudflare's `duration` format, in milliseconds; null if malformed. */
export function parseDuration(value: string): number | null {
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(value)) return null;
  let total = 0;
  for (const [, n, , unit] of value.matchAll(/(\d+(\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(n) * UNIT_MS[unit!]!;
  return total;
}

const createSchema = z.strictObject({
  name: z.string().trim().min(1).max(256),
  duration: z.string().max(32).optional(),
});

function render(row: ServiceTokenRow): ServiceTokenView {
  return { id: row.id, name: row.name, client_id: row.client_id, created_at: row.created_at, expires_at: row.expires_at, last_seen_at: row.last_seen_at };
}

/** `POST /api/v1/access/service_tokens {name, duration?}`: the secret is in this answer only. */
export async function createServiceToken(db: D1Database, actor: string, body: unknown) {
  const input = parseBody(createSchema, body);
  const duration = input.duration ?? DEFAULT_DURATION;
  const ms = parseDuration(duration);
  if (ms === null || ms < MIN_DURATION_MS || ms > MAX_DURATION_MS) {
    throw apiErrors.invalid(`duration: a duration such as "8760h" or "2h45m" between 1m and 87600h is required`);
  }
  const id = crypto.randomUUID();
  const clientId = newClientId();
  const secret = newClientSecret();
  const now = new Date();
  const row: ServiceTokenRow = {
    id,
    name: input.name,
    client_id: clientId,
    client_secret_hash: await sha256Hex(secret),
    created_at: now.toISOString(),
    expires_at: new Date(now.getTime() + ms).toISOString(),
    last_seen_at: null,
  };
  await db.batch([
    db
      .prepare("INSERT INTO access_service_tokens (id, name, client_id, client_secret_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)")
      .bind(row.id, row.name, row.client_id, row.client_secret_hash, row.created_at, row.expires_at),
    auditStatement(db, { actor, action: "service_token.create", targetType: "service_token", targetId: id, details: { name: row.name, client_id: clientId, duration } }),
  ]);
  return { ...render(row), client_secret: secret, duration };
}

/** `GET /api/v1/access/service_tokens?page=&per_page=`: oldest first, one page. */
export async function listServiceTokens(db: D1Database, page: ListPage = FIRST_PAGE): Promise<Paged<ServiceTokenView>> {
  const { rows, info } = await pagedRows<ServiceTokenRow>(db, "SELECT * FROM access_service_tokens ORDER BY created_at, id", "SELECT count(*) AS n FROM access_service_tokens", [], page);
  return { result: rows.map(render), result_info: info };
}

async function tokenRow(db: D1Database, id: string): Promise<ServiceTokenRow> {
  const row = await db.prepare("SELECT * FROM access_service_tokens WHERE id = ?").bind(id).first<ServiceTokenRow>();
  if (!row) throw apiErrors.notFound("Service token");
  return row;
}

/** `GET /api/v1/access/service_tokens/:id`. */
export async function getServiceToken(db: D1Database, id: string): Promise<ServiceTokenView> {
  return render(await tokenRow(db, id));
}

/**
 * `DELETE /api/v1/access/service_tokens/:id`: the token stops authenticating at once. Devices it
 * already issued are the named users' devices and stay until revoked (their `enrolled_by` names it).
 */
export async function deleteServiceToken(db: D1Database, actor: string, id: string): Promise<ServiceTokenView> {
  const row = await tokenRow(db, id);
  await db.batch([
    db.prepare("DELETE FROM access_service_tokens WHERE id = ?").bind(id),
    auditStatement(db, { actor, action: "service_token.delete", targetType: "service_token", targetId: id, details: { name: row.name } }),
  ]);
  return render(row);
}

/** `POST /api/v1/access/service_tokens/:id/rotate`: a new secret (shown once); the old one stops working at once. */
export async function rotateServiceToken(db: D1Database, actor: string, id: string) {
  const row = await tokenRow(db, id);
  const secret = newClientSecret();
  const hash = await sha256Hex(secret);
  const [updated] = await db.batch([
    db.prepare("UPDATE access_service_tokens SET client_secret_hash = ? WHERE id = ?").bind(hash, id),
    auditStatement(db, { actor, action: "service_token.rotate", targetType: "service_token", targetId: id, details: {} }),
  ]);
  if ((updated?.meta.changes ?? 0) === 0) throw apiErrors.notFound("Service token");
  return { ...render(row), client_secret: secret };
}

/** Compared against when the client id is unknown, so an unknown id and a wrong secret cost the same. */
const NO_SUCH_SECRET = "0".repeat(64);

/**
 * The service token a `Cf-Access-Client-Id` / `Cf-Access-Client-Secret` pair proves, or null. The
 * presented secret is hashed and compared in constant time with the stored hash; expired tokens fail.
 */
export async function authenticateServiceToken(db: D1Database, clientId: string, clientSecret: string): Promise<ServiceTokenView | null> {
  const row = clientId.length <= 64 ? await db.prepare("SELECT * FROM access_service_tokens WHERE client_id = ?").bind(clientId).first<ServiceTokenRow>() : null;
  const ok = timingSafeEqualHex(await sha256Hex(clientSecret), row?.client_secret_hash ?? NO_SUCH_SECRET);
  if (!row || !ok || Date.parse(row.expires_at) <= Date.now()) return null;
  const seen = new Date().toISOString();
  await db.prepare("UPDATE access_service_tokens SET last_seen_at = ? WHERE id = ?").bind(seen, row.id).run();
  return { ...render(row), last_seen_at: seen };
}

/**
 * The directory user a script names: `?user_id=<id>` exactly, or `?email=<address>` matched as Access
 * login matches (userName, else primary email, case-insensitive) across every connection. Two users
 * at the best tier (the same person in two connections) are ambiguous: the caller must use `user_id`.
 */
async function namedUser(db: D1Database, query: URLSearchParams): Promise<string> {
  const userId = query.get("user_id");
  const email = query.get("email");
  if ((userId === null) === (email === null)) throw apiErrors.invalid("Name the user with exactly one of ?email= or ?user_id=");
  if (userId !== null) return userId; // an unknown id is the enrollment's 404
  const needle = email!.trim().toLowerCase();
  if (needle === "" || needle.length > 320) throw apiErrors.invalid("email: an email address is required");
  const rows = await db
    .prepare("SELECT id, CASE WHEN user_name_lower = ? THEN 1 ELSE 2 END AS tier FROM users WHERE user_name_lower = ? OR email = ? ORDER BY tier, id LIMIT 10")
    .bind(needle, needle, needle)
    .all<{ id: string; tier: number }>();
  const best = rows.results[0];
  if (!best) throw apiErrors.notFound("User");
  if (rows.results.filter((r) => r.tier === best.tier).length > 1) {
    throw apiErrors.conflict(`More than one directory user matches ${needle}; name the user with ?user_id= instead`);
  }
  return best.id;
}

/** A 401/403 that never says which of the two headers was wrong. */
const serviceTokenRefused = (status: 401 | 403) =>
  new ApiError(status, 10000, status === 401 ? "A service token is required (Cf-Access-Client-Id and Cf-Access-Client-Secret)" : "The service token is not valid");

/**
 * `GET /cdn-cgi/access/doh-token?email=…|user_id=…[&name=…]` on the team host (Cloudflare's scripted
 * path): a service token issues a Gateway device for the named user. Answer: `{token, doh_url, device}`
 * (the token is shown this once). Mounted by src/app.ts under `/cdn-cgi/access`.
 */
export const dohTokenRoutes = new Hono<AppEnv>();

dohTokenRoutes.get("/doh-token", async (c) => {
  const clientId = c.req.header("cf-access-client-id")?.trim();
  const clientSecret = c.req.header("cf-access-client-secret")?.trim();
  if (!clientId || !clientSecret) throw serviceTokenRefused(401);
  const serviceToken = await authenticateServiceToken(c.env.DB, clientId, clientSecret);
  if (!serviceToken) throw serviceTokenRefused(403);
  const query = new URL(c.req.url).searchParams;
  const userId = await namedUser(c.env.DB, query);
  const name = (query.get("name") ?? "").trim().slice(0, 128) || `${serviceToken.name} (service token)`;
  const enrolledBy = `service_token:${serviceToken.id}`;
  const issued = await issueDevice(c.env, { userId, name, enrolledBy }, baseUrlFor(c.var.config, c.req.url));
  if (!issued.ok) throw issueRefusal(issued.error, userId);
  const { token, doh_url, ...device } = issued.device;
  c.header("cache-control", "no-store");
  return c.json({ token, doh_url, device });
});

/** The service-token body schema, for the OpenAPI document (src/admin/openapi.ts). */
export { createSchema as serviceTokenCreateSchema };
