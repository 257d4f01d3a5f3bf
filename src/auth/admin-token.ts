import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../http/app-env";
import { ApiError, apiErrors } from "../http/api-error";
import { sha256Hex, timingSafeEqualHex } from "../lib/crypto";
import { authenticateApiToken, type TokenScope } from "./api-tokens";

/** Who a valid admin bearer token is: the audit actor and what it may do. */
export interface AdminPrincipal {
  /** `admin:token` (the break-glass ADMIN_TOKEN) or `token:<api token id>`. */
  actor: string;
  scope: TokenScope;
  /** SHA-256 of the presented token (binds the dashboard's CSRF token to it). */
  hash: string;
}

/**
 * The admin a presented bearer token stands for, or null. The break-glass ADMIN_TOKEN is compared
 * hashed on both sides in constant time (neither length nor content leaks through timing); any other
 * token is looked up as an API token by its hash (src/auth/api-tokens.ts). A null never says which
 * check failed.
 */
export async function authenticateAdmin(env: Env, presented: string | undefined): Promise<AdminPrincipal | null> {
  if (!presented) return null;
  const [hash, expected] = await Promise.all([sha256Hex(presented), sha256Hex(env.ADMIN_TOKEN ?? "")]);
  if (env.ADMIN_TOKEN && timingSafeEqualHex(hash, expected)) return { actor: "admin:token", scope: "write", hash };
  const token = await authenticateApiToken(env.DB, presented);
  return token ? { actor: `token:${token.id}`, scope: token.scope, hash } : null;
}

/** Whether `method` only reads (what a `read` token may do). */
export const isReadMethod = (method: string) => method === "GET" || method === "HEAD";

/** The 403 of a read-only token on a state-changing request. */
export const readOnlyToken = () => new ApiError(403, 10003, "Forbidden: this API token is read-only; a write token is needed for this request");

/**
 * Admin API authentication: `Authorization: Bearer <ADMIN_TOKEN | API token>`. Sets `actor` and
 * `scope`; a `read` token may only GET/HEAD (403 otherwise). Sub-apps mount this again for safety, so
 * it authenticates once per request and re-checks only the method on later passes.
 */
export const requireAdmin = createMiddleware<AppEnv>(async (c, next) => {
  if (c.get("scope") === undefined) {
    const principal = await authenticateAdmin(c.env, bearerToken(c.req.header("authorization")));
    if (!principal) throw apiErrors.unauthorized();
    c.set("actor", principal.actor);
    c.set("scope", principal.scope);
  }
  if (c.get("scope") !== "write" && !isReadMethod(c.req.method)) throw readOnlyToken();
  await next();
});

/** Extracts the token of an `Authorization: Bearer …` header (scheme is case-insensitive, RFC 6750 §2.1). */
export function bearerToken(header: string | undefined): string | undefined {
  const match = header?.match(/^\s*bearer\s+(\S+)\s*$/i);
  return match?.[1];
}
