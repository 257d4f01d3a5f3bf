import { count, eq } from "drizzle-orm";
import { z } from "zod";
import { identityProviders } from "../../schema";
import { scimBaseUrl } from "../config";
import { database, nowIso, type Database, type IdentityProviderRow as IdpRow } from "../db";
import { randomSecret, sha256Hex } from "../lib/crypto";
import { sealSecret } from "../lib/secret-box";
import { IdpConfigError, prepareIdpConfig, type IdpType } from "../access/oidc/config";
import { apiErrors } from "../http/api-error";
import { resultInfo, type ListPage, type ResultInfo } from "../http/pagination";
import { auditInsert, auditStatement } from "../logs/audit";
import { drainOutbox } from "../sessions/outbox";

const idpTypes = ["azureAD", "okta", "oidc"] as const;
const updateBehaviors = ["automatic", "reauth", "no_action"] as const;

const scimConfigSchema = z
  .object({
    enabled: z.boolean().optional(),
    user_deprovision: z.boolean().optional(),
    seat_deprovision: z.boolean().optional(),
    identity_update_behavior: z.enum(updateBehaviors).optional(),
  })
  .strip();

const createSchema = z.object({
  name: z.string().trim().min(1).max(200),
  type: z.enum(idpTypes),
  // Validated per type by prepareIdpConfig (src/access/oidc/config.ts).
  config: z.unknown().optional(),
  scim_config: scimConfigSchema.default({}),
});

const updateSchema = z.object({
  name: z.string().trim().min(1).max(200).optional(),
  type: z.enum(idpTypes).optional(),
  config: z.unknown().optional(),
  scim_config: scimConfigSchema.optional(),
});

/**
 * The admin-facing view of a connection (Cloudflare's identity provider shape). Never includes the
 * SCIM secret's hash, nor the OIDC `client_secret`: it is write-only, kept only as ciphertext in
 * `client_secret_ciphertext` (never in `config`), and left out of every response rather than masked,
 * so a GET body sent back as a PUT cannot overwrite the secret with a placeholder.
 */
export function renderIdentityProvider(row: IdpRow, baseUrl: string, secret?: string) {
  return {
    id: row.id,
    name: row.name,
    type: row.type,
    config: JSON.parse(row.config) as Record<string, unknown>,
    scim_config: {
      enabled: row.scimEnabled,
      user_deprovision: row.userDeprovision,
      seat_deprovision: row.seatDeprovision,
      identity_update_behavior: row.identityUpdateBehavior,
      scim_base_url: scimBaseUrl(baseUrl, row.id),
      ...(secret ? { secret } : {}),
    },
    created_at: row.createdAt,
    updated_at: row.updatedAt,
  };
}

function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw apiErrors.invalid(`${issue?.path.join(".") || "body"}: ${issue?.message ?? "invalid"}`);
  }
  return parsed.data;
}

/** `seat_deprovision` only makes sense when deactivation deprovisions (Cloudflare's rule). */
function checkScimConfig(userDeprovision: boolean, seatDeprovision: boolean): void {
  if (seatDeprovision && !userDeprovision) throw apiErrors.invalid("scim_config.seat_deprovision requires scim_config.user_deprovision");
}

/**
 * Validates and completes `config` for the connection's type (400 on a bad field or a failed
 * discovery), and seals its `client_secret` (if given) for the connection `id`.
 */
async function prepareConfig(env: Env, id: string, type: IdpType, config: unknown): Promise<{ config: string; clientSecretCiphertext: string | undefined }> {
  try {
    const prepared = await prepareIdpConfig(env, type, config);
    const ciphertext = prepared.clientSecret === undefined ? undefined : await sealSecret(env.ACCESS_SECRETS_KEY, "idp_client_secret", id, prepared.clientSecret);
    return { config: JSON.stringify(prepared.config), clientSecretCiphertext: ciphertext };
  } catch (error) {
    if (error instanceof IdpConfigError) throw apiErrors.invalid(error.message);
    throw error;
  }
}

/** Creates a connection and its SCIM secret; the secret is returned once and only its SHA-256 is kept. */
export async function createIdentityProvider(env: Env, actor: string, body: unknown) {
  const db = database(env);
  const input = parseBody(createSchema, body);
  const scimConfig = {
    enabled: input.scim_config.enabled ?? true,
    userDeprovision: input.scim_config.user_deprovision ?? true,
    seatDeprovision: input.scim_config.seat_deprovision ?? false,
    identityUpdateBehavior: input.scim_config.identity_update_behavior ?? "automatic",
  };
  checkScimConfig(scimConfig.userDeprovision, scimConfig.seatDeprovision);
  const id = crypto.randomUUID();
  const prepared = await prepareConfig(env, id, input.type, input.config ?? {});
  const secret = randomSecret();
  const now = nowIso();
  const row: IdpRow = {
    id,
    name: input.name,
    type: input.type,
    config: prepared.config,
    clientSecretCiphertext: prepared.clientSecretCiphertext ?? null,
    scimEnabled: scimConfig.enabled,
    scimSecretHash: await sha256Hex(secret),
    userDeprovision: scimConfig.userDeprovision,
    seatDeprovision: scimConfig.seatDeprovision,
    identityUpdateBehavior: scimConfig.identityUpdateBehavior,
    createdAt: now,
    updatedAt: now,
  };
  await db.batch([
    db.insert(identityProviders).values(row),
    auditInsert(db, { actor, action: "identity_provider.create", targetType: "identity_provider", targetId: row.id, details: { name: row.name, type: row.type, client_secret: row.clientSecretCiphertext ? "set" : "none" } }),
  ]);
  return { row, secret };
}

/** All connections, oldest first. */
export async function listIdentityProviders(db: Database): Promise<IdpRow[]> {
  return db.select().from(identityProviders).orderBy(identityProviders.createdAt, identityProviders.id);
}

/** `GET /access/identity_providers?page=&per_page=`: one page of the connections, oldest first. */
export async function listIdentityProvidersPage(db: Database, page: ListPage): Promise<{ rows: IdpRow[]; result_info: ResultInfo }> {
  const [rows, total] = await db.batch([
    db.select().from(identityProviders).orderBy(identityProviders.createdAt, identityProviders.id).limit(page.per_page).offset((page.page - 1) * page.per_page),
    db.select({ n: count() }).from(identityProviders),
  ]);
  return { rows, result_info: resultInfo(page, rows.length, total[0]?.n ?? 0) };
}

/** One connection or a 404. */
export async function getIdentityProvider(db: Database, id: string): Promise<IdpRow> {
  const row = await db.select().from(identityProviders).where(eq(identityProviders.id, id)).get();
  if (!row) throw apiErrors.notFound("Identity provider");
  return row;
}

/**
 * Partial update (PATCH) or full update (PUT: the same fields, all given) of a connection's settings.
 * A given `config` replaces the stored one; without `client_secret` the stored secret is kept. A
 * changed `type` re-validates the stored config for the new type.
 */
export async function updateIdentityProvider(env: Env, actor: string, id: string, body: unknown): Promise<IdpRow> {
  const db = database(env);
  const input = parseBody(updateSchema, body);
  const current = await getIdentityProvider(db, id);
  const sc = input.scim_config ?? {};
  const type = input.type ?? (current.type as IdpType);
  const prepared = input.config !== undefined || input.type !== undefined ? await prepareConfig(env, id, type, input.config ?? JSON.parse(current.config)) : null;
  const next: IdpRow = {
    ...current,
    name: input.name ?? current.name,
    type,
    config: prepared?.config ?? current.config,
    clientSecretCiphertext: prepared?.clientSecretCiphertext ?? current.clientSecretCiphertext,
    scimEnabled: sc.enabled ?? current.scimEnabled,
    userDeprovision: sc.user_deprovision ?? current.userDeprovision,
    seatDeprovision: sc.seat_deprovision ?? current.seatDeprovision,
    identityUpdateBehavior: sc.identity_update_behavior ?? current.identityUpdateBehavior,
    updatedAt: nowIso(),
  };
  checkScimConfig(next.userDeprovision, next.seatDeprovision);
  const { id: _id, createdAt: _c, scimSecretHash: _s, ...changes } = next;
  await db.batch([
    db.update(identityProviders).set(changes).where(eq(identityProviders.id, id)),
    auditInsert(db, { actor, action: "identity_provider.update", targetType: "identity_provider", targetId: id, details: { fields: Object.keys(input), ...(prepared?.clientSecretCiphertext ? { client_secret: "replaced" } : {}) } }),
  ]);
  return next;
}

/** Replaces the SCIM secret; the old one stops working immediately. */
export async function rotateScimSecret(db: Database, actor: string, id: string) {
  const current = await getIdentityProvider(db, id);
  const secret = randomSecret();
  const row: IdpRow = { ...current, scimSecretHash: await sha256Hex(secret), updatedAt: nowIso() };
  await db.batch([
    db.update(identityProviders).set({ scimSecretHash: row.scimSecretHash, updatedAt: row.updatedAt }).where(eq(identityProviders.id, id)),
    auditInsert(db, { actor, action: "identity_provider.refresh_scim_secret", targetType: "identity_provider", targetId: id }),
  ]);
  return { row, secret };
}

/** What deleting a connection did to its users' sessions. */
export interface ConnectionDeletion {
  /** Users of the connection who had ever opened a session (their objects must end those sessions). */
  usersWithSessions: number;
  /** `done`: every session was revoked before the response; `pending`: the queue (or cron) finishes it. */
  sessions: "done" | "pending";
}

/**
 * Deletes a connection; its users, groups and memberships go with it (foreign keys cascade). The
 * users who ever opened a session are recorded in an `identity_outbox` row IN THE SAME BATCH, so
 * the revocation of their sessions cannot be lost: it is done inline for up to 100 users (the
 * response then means every session is revoked), otherwise by the IDENTITY_CHANGES queue, with the
 * outbox cron as the safety net. A 100,000-user connection cannot be revoked inside one request:
 * that is 100,000 Durable Object calls against 10,000 subrequests per invocation (Workers Paid).
 * Either way no new session can be opened for these users once the batch commits (they no longer
 * exist in D1, and `openSession` reads D1 first).
 */
export async function deleteIdentityProvider(env: Env, actor: string, id: string): Promise<ConnectionDeletion> {
  const current = await getIdentityProvider(database(env), id);
  const db = env.DB;
  const outboxId = crypto.randomUUID();
  const now = nowIso();
  const payload = JSON.stringify({ actor, reason: "identity_provider.delete" });
  const results = await db.batch([
    db
      .prepare("INSERT INTO identity_outbox (id, kind, idp_id, payload, created_at, attempts, next_attempt_at) VALUES (?, 'deprovision', ?, ?, ?, 0, ?)")
      .bind(outboxId, id, payload, now, new Date(Date.now() + 60_000).toISOString()),
    db
      .prepare("INSERT INTO identity_outbox_users (outbox_id, user_id) SELECT ?, u.id FROM users u WHERE u.idp_id = ? AND EXISTS (SELECT 1 FROM session_index s WHERE s.user_id = u.id)")
      .bind(outboxId, id),
    db.prepare("DELETE FROM identity_providers WHERE id = ?").bind(id),
    auditStatement(db, { actor, action: "identity_provider.delete", targetType: "identity_provider", targetId: id, details: { name: current.name } }),
  ]);
  const usersWithSessions = results[1]?.meta.changes ?? 0;
  const drained = await drainOutbox(env, { id: outboxId, kind: "deprovision", idp_id: id, payload, attempts: 0 });
  return { usersWithSessions, sessions: drained === "inline" || drained === "none" ? "done" : "pending" };
}

/** The zod schemas of the create and update bodies, for the OpenAPI document (src/admin/openapi.ts). */
export { createSchema as identityProviderCreateSchema, updateSchema as identityProviderUpdateSchema };
