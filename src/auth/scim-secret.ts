import type { IdentityProviderRow } from "../directory/context";
import { sha256Hex, timingSafeEqualHex } from "../lib/crypto";

/**
 * How long an isolate trusts a connection row it read. A positive match within this window skips
 * the D1 read (one round trip saved on every SCIM request of a provisioning burst). The cost: a
 * rotated, disabled or deleted connection's old secret keeps working for at most this long in
 * OTHER isolates; the isolate that handled the admin change forgets the row at once, and a secret
 * that does not match the cached row always re-reads D1 (a new secret works immediately).
 */
export const CONNECTION_CACHE_TTL_MS = 5_000;
const MAX_CACHED = 1_000;

/** Fixed-length dummy digest so an unknown connection costs the same work as a known one. */
const DUMMY_HASH = "0".repeat(64);

const cache = new Map<string, { row: IdentityProviderRow; until: number }>();

/** Drops a connection from this isolate's cache (after an admin update, rotation or deletion). */
export function forgetConnection(idpId: string): void {
  cache.delete(idpId);
}

function toRow(r: Record<string, unknown>): IdentityProviderRow {
  return {
    id: r.id as string,
    name: r.name as string,
    type: r.type as string,
    config: r.config as string,
    scimEnabled: r.scim_enabled === 1,
    scimSecretHash: r.scim_secret_hash as string,
    userDeprovision: r.user_deprovision === 1,
    seatDeprovision: r.seat_deprovision === 1,
    identityUpdateBehavior: r.identity_update_behavior as string,
    createdAt: r.created_at as string,
    updatedAt: r.updated_at as string,
  };
}

/**
 * Checks a presented SCIM bearer secret against ONE connection's stored SHA-256, in constant time.
 * `idp` is set whenever the connection exists (so failures can be logged against it).
 */
export async function authenticateScim(db: D1Database, idpId: string, token: string | undefined, now = Date.now()): Promise<{ idp?: IdentityProviderRow; valid: boolean }> {
  const presented = token === undefined ? undefined : await sha256Hex(token);
  const hit = cache.get(idpId);
  if (hit && hit.until > now && presented !== undefined && timingSafeEqualHex(presented, hit.row.scimSecretHash)) {
    return { idp: hit.row, valid: true };
  }
  const found = await db.prepare("SELECT * FROM identity_providers WHERE id = ?").bind(idpId).first<Record<string, unknown>>();
  const idp = found ? toRow(found) : undefined;
  if (idp) {
    if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!);
    cache.set(idpId, { row: idp, until: now + CONNECTION_CACHE_TTL_MS });
  } else {
    cache.delete(idpId);
  }
  const valid = presented !== undefined && timingSafeEqualHex(presented, idp?.scimSecretHash ?? DUMMY_HASH) && idp !== undefined;
  return { idp, valid };
}
