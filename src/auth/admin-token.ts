import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../http/app-env";
import { apiErrors } from "../http/api-error";
import { sha256Hex, timingSafeEqualHex } from "../lib/crypto";

/**
 * Admin API authentication: `Authorization: Bearer <ADMIN_TOKEN>`. Both sides are hashed before a
 * constant-time comparison, so neither length nor content leaks through timing.
 */
export const requireAdmin = createMiddleware<AppEnv>(async (c, next) => {
  const presented = bearerToken(c.req.header("authorization"));
  const expected = c.env.ADMIN_TOKEN;
  if (!presented || !expected) throw apiErrors.unauthorized();
  const [a, b] = await Promise.all([sha256Hex(presented), sha256Hex(expected)]);
  if (!timingSafeEqualHex(a, b)) throw apiErrors.unauthorized();
  c.set("actor", "admin:token");
  await next();
});

/** Extracts the token of an `Authorization: Bearer …` header (scheme is case-insensitive, RFC 6750 §2.1). */
export function bearerToken(header: string | undefined): string | undefined {
  const match = header?.match(/^\s*bearer\s+(\S+)\s*$/i);
  return match?.[1];
}
