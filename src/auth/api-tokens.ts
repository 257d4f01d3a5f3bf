// API tokens for scripts: `zt_<43 base64url characters>` (256 random bits), shown once at creation.
// Only the SHA-256 of the whole token is stored, and a presented token is looked up by that hash:
// the lookup is by a one-way digest of a high-entropy secret, so a timing difference in the index
// seek reveals nothing usable about any stored token. Every failure (unknown, revoked, expired) is
// the same 401 to the caller; the reason stays on the server.
import { z } from "zod";
import { auditStatement } from "../logs/audit";
import { apiErrors } from "../http/api-error";
import { parseBody } from "../http/input";
import { FIRST_PAGE, pagedRows, type ListPage, type Paged } from "../http/pagination";
import { randomSecret, sha256Hex } from "../lib/crypto";

/** Prefix of every API token (lets secret scanners and humans recognise one). */
export const API_TOKEN_PREFIX = "zt_";

/** `last_used_at` is written at most this often per token, so a busy script costs no write per request. */
export const LAST_USED_WRITE_INTERVAL_MS = 60_000;

export type TokenScope = "read" | "write";

/** A token as the API shows it (never the secret nor its hash): its row plus a derived status. */
export type ApiTokenView = TokenRow & { status: "active" | "revoked" | "expired" };

interface TokenRow {
  id: string;
  name: string;
  scope: TokenScope;
  created_by: string;
  created_at: string;
  last_used_at: string | null;
  expires_at: string | null;
  revoked_at: string | null;
}

const COLUMNS = "id, name, scope, created_by, created_at, last_used_at, expires_at, revoked_at";

function view(r: TokenRow, now = Date.now()): ApiTokenView {
  const status = r.revoked_at ? "revoked" : r.expires_at && Date.parse(r.expires_at) <= now ? "expired" : "active";
  return { ...r, status };
}

/** Zod schema of `POST /api/v1/tokens`. */
export const CreateTokenSchema = z.strictObject({
  name: z.string().trim().min(1, "must not be empty").max(100),
  scope: z.enum(["read", "write"]),
  /** An absolute time, or omitted for a token that does not expire. */
  expires_at: z.iso
    .datetime({ offset: true })
    .transform((v) => new Date(v).toISOString())
    .refine((v) => Date.parse(v) > Date.now(), "must be in the future")
    .optional()
    .nullable(),
});

/** Creates a token; the answer holds the secret (`token`), the only time it is ever shown. */
export async function createApiToken(db: D1Database, actor: string, body: unknown): Promise<ApiTokenView & { token: string }> {
  const input = parseBody(CreateTokenSchema, body);
  const token = `${API_TOKEN_PREFIX}${randomSecret()}`;
  const row: TokenRow = {
    id: crypto.randomUUID(),
    name: input.name,
    scope: input.scope,
    created_by: actor,
    created_at: new Date().toISOString(),
    last_used_at: null,
    expires_at: input.expires_at ?? null,
    revoked_at: null,
  };
  await db.batch([
    db
      .prepare("INSERT INTO api_tokens (id, name, token_hash, scope, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
      .bind(row.id, row.name, await sha256Hex(token), row.scope, row.created_by, row.created_at, row.expires_at),
    auditStatement(db, { actor, action: "api_token.create", targetType: "api_token", targetId: row.id, details: { name: row.name, scope: row.scope, expires_at: row.expires_at } }),
  ]);
  return { ...view(row), token };
}

/** One page of the tokens, newest first (revoked ones stay listed for the record). */
export async function listApiTokens(db: D1Database, page: ListPage = FIRST_PAGE): Promise<Paged<ApiTokenView>> {
  const { rows, info } = await pagedRows<TokenRow>(db, `SELECT ${COLUMNS} FROM api_tokens ORDER BY created_at DESC, id`, "SELECT count(*) AS n FROM api_tokens", [], page);
  const now = Date.now();
  return { result: rows.map((r) => view(r, now)), result_info: info };
}

/** Revokes a token (idempotent: revoking a revoked token keeps its first revocation time). */
export async function revokeApiToken(db: D1Database, actor: string, id: string): Promise<ApiTokenView> {
  const now = new Date().toISOString();
  const [, , read] = await db.batch([
    db.prepare("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL").bind(now, id),
    // Audited only when the row exists (INSERT … SELECT), in the same batch as the change.
    db
      .prepare("INSERT INTO audit_log (id, logged_at, actor, action, target_type, target_id, details) SELECT ?, ?, ?, 'api_token.revoke', 'api_token', id, json_object('name', name) FROM api_tokens WHERE id = ?")
      .bind(crypto.randomUUID(), now, actor, id),
    db.prepare(`SELECT ${COLUMNS} FROM api_tokens WHERE id = ?`).bind(id),
  ]);
  const row = read!.results[0] as TokenRow | undefined;
  if (!row) throw apiErrors.notFound("API token");
  return view(row);
}

/** The identity a valid API token carries. */
export interface TokenPrincipal {
  id: string;
  scope: TokenScope;
}

/**
 * The principal of a presented `zt_…` token, or null (unknown, revoked or expired: the caller
 * answers the same 401 for all three). Refreshes `last_used_at` when it is older than a minute.
 */
export async function authenticateApiToken(db: D1Database, presented: string, now = Date.now()): Promise<TokenPrincipal | null> {
  if (!presented.startsWith(API_TOKEN_PREFIX)) return null;
  const hash = await sha256Hex(presented);
  const row = await db
    .prepare("SELECT id, scope, last_used_at, expires_at, revoked_at FROM api_tokens WHERE token_hash = ?")
    .bind(hash)
    .first<{ id: string; scope: TokenScope; last_used_at: string | null; expires_at: string | null; revoked_at: string | null }>();
  if (!row || row.revoked_at !== null) return null;
  if (row.expires_at !== null && Date.parse(row.expires_at) <= now) return null;
  if (row.last_used_at === null || now - Date.parse(row.last_used_at) >= LAST_USED_WRITE_INTERVAL_MS) {
    // Conditional, so concurrent requests in the same minute write once between them.
    const stamp = new Date(now).toISOString();
    const staleBefore = new Date(now - LAST_USED_WRITE_INTERVAL_MS).toISOString();
    await db.prepare("UPDATE api_tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)").bind(stamp, row.id, staleBefore).run();
  }
  return { id: row.id, scope: row.scope };
}
