import type { IdentityProviderRow } from "../db";
import { sha256Hex, timingSafeEqualHex } from "../lib/crypto";

/**
 * SCIM bearer secrets (RFC 7644 §2, RFC 6750). Only the secret's SHA-256 is stored; a presented
 * secret is hashed and compared in constant time against ONE connection's stored hash.
 *
 * Nothing here is cached across requests: every SCIM request checks the hash D1 holds at that
 * moment, so a rotated, disabled or deleted connection's old secret stops working everywhere at
 * once, and a `scim_config` change applies to the next request. The extra read usually costs no
 * round trip of its own: `scim-gate.ts` sends it in the same `db.batch` as the request's first read.
 */

/** Fixed-length dummy digest so an unknown connection costs the same work as a known one. */
const DUMMY_HASH = "0".repeat(64);

/** The one statement authentication needs: this connection's row (or none). */
export function connectionStatement(db: D1Database, idpId: string): D1PreparedStatement {
  return db.prepare("SELECT * FROM identity_providers WHERE id = ?").bind(idpId);
}

/** Maps a raw `identity_providers` row to its typed shape. */
export function toConnectionRow(r: Record<string, unknown>): IdentityProviderRow {
  return {
    id: r.id as string,
    name: r.name as string,
    type: r.type as string,
    config: r.config as string,
    clientSecretCiphertext: (r.client_secret_ciphertext as string | null) ?? null,
    scimEnabled: r.scim_enabled === 1,
    scimSecretHash: r.scim_secret_hash as string,
    userDeprovision: r.user_deprovision === 1,
    seatDeprovision: r.seat_deprovision === 1,
    identityUpdateBehavior: r.identity_update_behavior as string,
    createdAt: r.created_at as string,
    updatedAt: r.updated_at as string,
  };
}

/** The SHA-256 of a presented bearer secret (undefined when none was presented). */
export async function presentedHash(token: string | undefined): Promise<string | undefined> {
  return token === undefined ? undefined : sha256Hex(token);
}

/**
 * Outcome of one secret check. `idp` is set whenever the connection exists (failures are logged
 * against it); `valid` means the secret matched; SCIM may still be disabled (`idp.scimEnabled`).
 */
export interface ScimAuthOutcome {
  idp?: IdentityProviderRow;
  valid: boolean;
}

/** Compares a presented hash with a freshly read connection row, in constant time. */
export function checkSecret(presented: string | undefined, raw: Record<string, unknown> | null | undefined): ScimAuthOutcome {
  const idp = raw ? toConnectionRow(raw) : undefined;
  // Always compare (against a dummy for an unknown connection) so both cases cost the same.
  const matches = presented !== undefined && timingSafeEqualHex(presented, idp?.scimSecretHash ?? DUMMY_HASH);
  return { idp, valid: matches && idp !== undefined };
}

/** Checks a presented SCIM bearer secret against ONE connection's stored SHA-256 (one D1 read, never cached). */
export async function authenticateScim(db: D1Database, idpId: string, token: string | undefined): Promise<ScimAuthOutcome> {
  const presented = await presentedHash(token);
  return checkSecret(presented, await connectionStatement(db, idpId).first<Record<string, unknown>>());
}
