// Gateway devices: a DoH token per device, bound to the user and to a `gateway` session in the user's
// Durable Object. The object is the authority (deprovisioning, `revoke_user` and device removal end the
// session there); D1 holds the token's SHA-256, the binding and the enrollment record.
import { z } from "zod";
import { apiErrors } from "../http/api-error";
import { auditStatement } from "../logs/audit";
import { parseBody } from "../http/input";
import { pagedRows } from "../http/pagination";
import { randomSecret, sha256Hex } from "../lib/crypto";
import { sessionsFor } from "../sessions/client";
import { openSession } from "../sessions/service";
import { MAX_TTL_SECONDS } from "../sessions/user-sessions";

/**
 * A device's lifetime: the longest session the user's object grants (31 days). Device and session end
 * together; a longer life would need a longer MAX_TTL_SECONDS in the object, or re-enrollment.
 */
export const DEVICE_TTL_SECONDS = MAX_TTL_SECONDS;

/** What a token's holder is: the device, its user and the session the object checks on every query. */
export interface DeviceBinding {
  deviceId: string;
  userId: string;
  sessionId: string;
}

/** A device as the admin API shows it (never with its token). */
export interface DeviceView {
  id: string;
  name: string;
  user_id: string;
  session_id: string;
  enrolled_by: string;
  created_at: string;
  expires_at: string;
  revoked_at: string | null;
}

/** A newly issued device: the only time its token is shown. */
export interface IssuedDevice {
  id: string;
  name: string;
  user_id: string;
  token: string;
  doh_url: string;
  enrolled_by: string;
  created_at: string;
  expires_at: string;
}

export type IssueDeviceError = "unknown_user" | "inactive" | "deprovisioned";

interface DeviceRow {
  id: string;
  user_id: string;
  name: string;
  token_hash: string;
  session_id: string;
  enrolled_by: string;
  created_at: string;
  expires_at: string;
  revoked_at: string | null;
}

/** `randomSecret()`'s shape: 32 bytes in unpadded base64url (path-safe, RFC 4648 §5). Anything else is not ours. */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/** `<base>/dns-query/<token>`: the URL an OS or browser is configured with (no headers possible there). */
export function dohUrl(baseUrl: string, token: string): string {
  return `${baseUrl.replace(/\/+$/, "")}/dns-query/${token}`;
}

/**
 * Issues a device: opens the `gateway` session in the user's object first (refused for unknown,
 * inactive or deprovisioned users), then records the device and its audit row in one D1 batch. If that
 * write fails the session is revoked again, so no live session is left without a device row.
 */
export async function issueDevice(
  env: Env,
  input: { userId: string; name: string; enrolledBy: string; actor?: string },
  baseUrl: string,
): Promise<{ ok: true; device: IssuedDevice } | { ok: false; error: IssueDeviceError }> {
  const id = crypto.randomUUID();
  const opened = await openSession(env, input.userId, { kind: "gateway", deviceId: id, ttlSeconds: DEVICE_TTL_SECONDS });
  if (!opened.ok) {
    if (opened.error === "unknown_user" || opened.error === "inactive" || opened.error === "deprovisioned") return { ok: false, error: opened.error };
    // stale_groups three times in a row: the user's groups are changing under us; the caller may retry.
    throw apiErrors.conflict("The user's groups changed while the device was being enrolled; retry");
  }
  const token = randomSecret();
  const createdAt = new Date().toISOString();
  const expiresAt = new Date(opened.expiresAt).toISOString();
  const actor = input.actor ?? input.enrolledBy;
  try {
    await env.DB.batch([
      env.DB.prepare(
        `INSERT INTO gateway_devices (id, user_id, name, token_hash, session_id, enrolled_by, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ).bind(id, input.userId, input.name, await sha256Hex(token), opened.sessionId, input.enrolledBy, createdAt, expiresAt),
      auditStatement(env.DB, {
        actor,
        action: "gateway_device.create",
        targetType: "gateway_device",
        targetId: id,
        details: { user_id: input.userId, name: input.name, enrolled_by: input.enrolledBy },
      }),
    ]);
  } catch (error) {
    // No orphan: the session must not outlive the failed enrollment (the token was never shown).
    await sessionsFor(env, input.userId)
      .revokeSession(opened.sessionId, "device_removed", actor)
      .catch((e: unknown) => console.error("gateway: could not revoke the session of a failed enrollment", e instanceof Error ? e.message : String(e)));
    throw error;
  }
  return {
    ok: true,
    device: { id, name: input.name, user_id: input.userId, token, doh_url: dohUrl(baseUrl, token), enrolled_by: input.enrolledBy, created_at: createdAt, expires_at: expiresAt },
  };
}

const createSchema = z.strictObject({
  user_id: z.string().min(1).max(128),
  name: z.string().trim().min(1).max(128),
});

/** `POST /api/v1/gateway/devices {user_id, name}`: 404 for an unknown user, 409 for one who cannot sign in. */
export async function createDevice(env: Env, actor: string, body: unknown, baseUrl: string): Promise<IssuedDevice> {
  const input = parseBody(createSchema, body);
  const issued = await issueDevice(env, { userId: input.user_id, name: input.name, enrolledBy: "admin", actor }, baseUrl);
  if (issued.ok) return issued.device;
  throw issueRefusal(issued.error, input.user_id);
}

/** The admin API error for a refused enrollment. */
export function issueRefusal(error: IssueDeviceError, who: string) {
  if (error === "unknown_user") return apiErrors.notFound("User");
  return apiErrors.conflict(
    error === "deprovisioned"
      ? `User ${who} is deprovisioned: no device can be enrolled until the identity provider reactivates them`
      : `User ${who} is inactive in the directory: no device can be enrolled`,
  );
}

function render(row: DeviceRow): DeviceView {
  return {
    id: row.id,
    name: row.name,
    user_id: row.user_id,
    session_id: row.session_id,
    enrolled_by: row.enrolled_by,
    created_at: row.created_at,
    expires_at: row.expires_at,
    revoked_at: row.revoked_at,
  };
}

const DEVICE_COLUMNS = "id, user_id, name, token_hash, session_id, enrolled_by, created_at, expires_at, revoked_at";

const listSchema = z.object({
  user_id: z.string().min(1).max(128).optional(),
  page: z.coerce.number().int().min(1).default(1),
  per_page: z.coerce.number().int().min(1).max(1000).default(50),
});

/** `GET /api/v1/gateway/devices[?user_id=]`: newest first, paginated, never with tokens. */
export async function listDevices(db: D1Database, query: URLSearchParams) {
  const parsed = listSchema.safeParse(Object.fromEntries(query));
  if (!parsed.success) throw apiErrors.invalid(`${parsed.error.issues[0]?.path.join(".")}: ${parsed.error.issues[0]?.message}`);
  const { user_id, page, per_page } = parsed.data;
  const where = user_id === undefined ? "" : "WHERE user_id = ?";
  const params = user_id === undefined ? [] : [user_id];
  const { rows, info } = await pagedRows<DeviceRow>(
    db,
    `SELECT ${DEVICE_COLUMNS} FROM gateway_devices ${where} ORDER BY created_at DESC, id DESC`,
    `SELECT count(*) AS n FROM gateway_devices ${where}`,
    params,
    { page, per_page },
  );
  return { result: rows.map(render), result_info: info };
}

async function deviceRow(db: D1Database, id: string): Promise<DeviceRow> {
  const row = await db.prepare(`SELECT ${DEVICE_COLUMNS} FROM gateway_devices WHERE id = ?`).bind(id).first<DeviceRow>();
  if (!row) throw apiErrors.notFound("Gateway device");
  return row;
}

/** `GET /api/v1/gateway/devices/:id`. */
export async function getDevice(db: D1Database, id: string): Promise<DeviceView> {
  return render(await deviceRow(db, id));
}

/**
 * `DELETE /api/v1/gateway/devices/:id`: ends the device's session in the user's object first (the
 * token stops working with that call, in every isolate), then marks the row revoked with its audit
 * row. If the object cannot be reached the request fails and D1 is unchanged; a retry is safe.
 * The row is kept (revoked) so the DNS log still names the device.
 */
export async function revokeDevice(env: Env, id: string, actor: string): Promise<DeviceView> {
  const row = await deviceRow(env.DB, id);
  await sessionsFor(env, row.user_id).revokeSession(row.session_id, "device_removed", actor);
  forgetToken(row.token_hash);
  if (row.revoked_at) return render(row);
  const revokedAt = new Date().toISOString();
  await env.DB.batch([
    env.DB.prepare("UPDATE gateway_devices SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL").bind(revokedAt, id),
    auditStatement(env.DB, { actor, action: "gateway_device.revoke", targetType: "gateway_device", targetId: id, details: { user_id: row.user_id } }),
  ]);
  return render({ ...row, revoked_at: revokedAt });
}

// ---- Token resolution (the resolver's first step).

/**
 * Per-isolate cache of token hash → binding. A token's binding never changes, and whether it is still
 * honoured is decided by the object's `check` on every query (revocation is immediate everywhere), so a
 * cached binding is safe; only `expires_at` is re-checked here. Unknown hashes are remembered briefly
 * (a flood of forged tokens costs one D1 read each per NEGATIVE_TTL_MS at most). Both maps are bounded;
 * the oldest entry goes first (Map iteration order is insertion order; a hit re-inserts).
 */
const POSITIVE_MAX = 2048;
const NEGATIVE_MAX = 1024;
const NEGATIVE_TTL_MS = 5_000;
const positive = new Map<string, DeviceBinding & { expiresAtMs: number }>();
const negative = new Map<string, number>();

function remember<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > max) map.delete(map.keys().next().value as string);
}

function forgetToken(tokenHash: string): void {
  positive.delete(tokenHash);
}

/** Test hook: empties this isolate's token cache. */
export function clearDeviceTokenCache(): void {
  positive.clear();
  negative.clear();
}

/**
 * The device a DoH token belongs to, or null (malformed, unknown, revoked in D1 or expired). The
 * caller must still `check` the session in the user's object: that is where revocation is enforced.
 * The token is never logged; only its SHA-256 reaches D1.
 */
export async function resolveDeviceToken(env: Env, token: string): Promise<DeviceBinding | null> {
  if (!TOKEN_SHAPE.test(token)) return null;
  const hash = await sha256Hex(token);
  const now = Date.now();
  const hit = positive.get(hash);
  if (hit) {
    if (hit.expiresAtMs <= now) return (positive.delete(hash), null);
    remember(positive, hash, hit, POSITIVE_MAX);
    return { deviceId: hit.deviceId, userId: hit.userId, sessionId: hit.sessionId };
  }
  const missAt = negative.get(hash);
  if (missAt !== undefined && now - missAt < NEGATIVE_TTL_MS) return null;
  const row = await env.DB.prepare("SELECT id, user_id, session_id, expires_at FROM gateway_devices WHERE token_hash = ? AND revoked_at IS NULL")
    .bind(hash)
    .first<{ id: string; user_id: string; session_id: string; expires_at: string }>();
  const expiresAtMs = row ? Date.parse(row.expires_at) : Number.NaN;
  if (!row || !(expiresAtMs > now)) {
    remember(negative, hash, now, NEGATIVE_MAX);
    return null;
  }
  negative.delete(hash);
  const binding = { deviceId: row.id, userId: row.user_id, sessionId: row.session_id };
  remember(positive, hash, { ...binding, expiresAtMs }, POSITIVE_MAX);
  return binding;
}

/** The zod schemas of the device API, for the OpenAPI document (src/admin/openapi.ts). */
export { createSchema as deviceCreateSchema, listSchema as deviceListSchema };
