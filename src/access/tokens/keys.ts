// Access token signing keys (RS256) in D1: made on first use, rotated by the admin API and by the
// daily cron, published until the last token they signed has expired, then pruned.
//
// Exactly one key is current (`rotated_at IS NULL`). Every write that can make a current key is a
// conditional INSERT (`… WHERE NOT EXISTS (current key)`) in the same D1 transaction as the UPDATE
// that retires the previous one, so isolates racing on "first use" or on a due rotation end with
// one current key, never two, never none.
//
// The hot path (sign, verify) reads D1 at most once per CACHE_TTL_MS per isolate. A token naming
// a `kid` this isolate does not know forces one re-read, at most once per UNKNOWN_KID_RELOAD_MS,
// so a stream of forged kids cannot be turned into D1 load.
import { calculateJwkThumbprint, createLocalJWKSet, exportJWK, generateKeyPair, importJWK, type JSONWebKeySet, type JWK } from "jose";
import { openSecret, sealSecret } from "../../lib/secret-box";
import { auditStatement } from "../../logs/audit";
import { MAX_SESSION_SECONDS, parseDuration } from "../apps/duration";
import { selfSignedCertificatePem } from "./cert";

/**
 * The longest token lifetime `signAccessToken` accepts: the longest session an app or policy may
 * set (730h, Cloudflare's "1 month") plus a day of slack for rounding and the org session.
 * A rotated key stays published for at most this long.
 */
export const MAX_TOKEN_LIFETIME_SECONDS = MAX_SESSION_SECONDS + 86_400;
/** Cloudflare rotates Access signing keys every 6 weeks by default. */
export const DEFAULT_ROTATION_INTERVAL_DAYS = 42;
/** Cloudflare's bounds for `key_rotation_interval_days`. */
export const ROTATION_INTERVAL_BOUNDS = { min: 21, max: 365 } as const;
const ROTATION_SETTING = "key_rotation_interval_days";
/** Session length assumed when no app or policy says more (Cloudflare's default `24h`). */
const DEFAULT_SESSION_SECONDS = 86_400;
/**
 * Published keys' slack past the last expiry: other isolates keep signing with their cached key
 * for up to CACHE_TTL_MS after a rotation, and verifiers allow some clock skew.
 */
const RETIRE_MARGIN_SECONDS = 300;
/** The certificate outlives any key: longest rotation interval + longest retirement. */
const CERT_VALIDITY_DAYS = ROTATION_INTERVAL_BOUNDS.max + 35;
const CACHE_TTL_MS = 60_000;
const UNKNOWN_KID_RELOAD_MS = 5_000;
const DAY_MS = 86_400_000;

/** A key as published at `/cdn-cgi/access/certs`. */
export interface PublishedKey {
  kid: string;
  /** Public JWK with `kid`, `alg: "RS256"`, `use: "sig"`. */
  jwk: JWK;
  certPem: string;
  createdAt: string;
  /** Null while the key is current. */
  retireAfter: string | null;
}

/** Every key still published, the current one first, with a jose key set over them. */
export interface PublishedKeys {
  current: PublishedKey;
  all: PublishedKey[];
  byKid: Map<string, PublishedKey>;
  jwks: JSONWebKeySet;
  keySet: ReturnType<typeof createLocalJWKSet>;
}

/** The key new tokens are signed with. */
export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
}

interface KeyRow {
  kid: string;
  public_jwk: string;
  private_jwk_ciphertext: string;
  cert_pem: string;
  created_at: string;
  rotated_at: string | null;
  retire_after: string | null;
}

// ---- Per-isolate caches.
let signingCache: { key: SigningKey; loadedAt: number } | null = null;
let publishedCache: { keys: PublishedKeys; loadedAt: number } | null = null;
let publishedInFlight: Promise<PublishedKeys> | null = null;
let signingInFlight: Promise<SigningKey> | null = null;
let lastUnknownKidReload = -Infinity;

/** Drops this isolate's cached keys (after a rotation here; tests that change D1 behind its back). */
export function resetKeyCaches(): void {
  signingCache = publishedCache = null;
  publishedInFlight = signingInFlight = null;
  lastUnknownKidReload = -Infinity;
}

// ---- Key material.

interface NewKey {
  kid: string;
  privateKey: CryptoKey;
  row: Omit<KeyRow, "rotated_at" | "retire_after">;
}

/** Generates an RS256 key pair, its self-signed certificate, and the row that stores it (private part sealed). */
async function makeKey(env: Env, now: number): Promise<NewKey> {
  const { publicKey, privateKey } = await generateKeyPair("RS256", { extractable: true, modulusLength: 2048 });
  const { kty, n, e } = await exportJWK(publicKey);
  // RFC 7638 thumbprint: a kid that names the key itself (no collisions between isolates racing).
  const kid = await calculateJwkThumbprint({ kty, n, e }, "sha256");
  const publicJwk: JWK = { kty, n, e, kid, alg: "RS256", use: "sig" };
  const privateJwk = await exportJWK(privateKey);
  const certPem = await selfSignedCertificatePem(publicKey, privateKey, {
    commonName: kid,
    notBefore: new Date(now),
    notAfter: new Date(now + CERT_VALIDITY_DAYS * DAY_MS),
  });
  return {
    kid,
    privateKey,
    row: {
      kid,
      public_jwk: JSON.stringify(publicJwk),
      private_jwk_ciphertext: await sealSecret(env.ACCESS_SECRETS_KEY, "access_signing_key", kid, JSON.stringify(privateJwk)),
      cert_pem: certPem,
      created_at: new Date(now).toISOString(),
    },
  };
}

/** INSERT of a new current key that does nothing when a current key already exists. */
function insertIfNoCurrent(db: D1Database, key: NewKey): D1PreparedStatement {
  const r = key.row;
  return db
    .prepare(
      `INSERT INTO access_signing_keys (kid, public_jwk, private_jwk_ciphertext, cert_pem, created_at, rotated_at, retire_after)
       SELECT ?, ?, ?, ?, ?, NULL, NULL WHERE NOT EXISTS (SELECT 1 FROM access_signing_keys WHERE rotated_at IS NULL)`,
    )
    .bind(r.kid, r.public_jwk, r.private_jwk_ciphertext, r.cert_pem, r.created_at);
}

/** An audit row written only if `kid` became the current key in the same batch (so a lost race logs nothing). */
function auditIfCurrent(db: D1Database, kid: string, actor: string, action: string, details: Record<string, unknown>): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO audit_log (id, logged_at, actor, action, target_type, target_id, details)
       SELECT ?, ?, ?, ?, 'access_signing_key', ?, ? WHERE EXISTS (SELECT 1 FROM access_signing_keys WHERE kid = ? AND rotated_at IS NULL)`,
    )
    .bind(crypto.randomUUID(), new Date().toISOString(), actor, action, kid, JSON.stringify(details), kid);
}

const currentRow = (db: D1Database) => db.prepare("SELECT * FROM access_signing_keys WHERE rotated_at IS NULL ORDER BY created_at DESC LIMIT 1").first<KeyRow>();

/**
 * The current key's row, creating it on first use. Safe under any number of concurrent callers:
 * the insert is conditional and everyone re-reads the winner.
 */
export async function loadOrCreateCurrentKey(env: Env, actor = "system"): Promise<KeyRow> {
  const existing = await currentRow(env.DB);
  if (existing) return existing;
  const key = await makeKey(env, Date.now());
  await env.DB.batch([insertIfNoCurrent(env.DB, key), auditIfCurrent(env.DB, key.kid, actor, "access.signing_key.create", { kid: key.kid })]);
  const winner = await currentRow(env.DB);
  if (!winner) throw new Error("access signing key: no current key after the first-use insert");
  return winner;
}

// ---- Signing.

/** The current signing key, from this isolate's cache (refreshed every CACHE_TTL_MS). */
export async function currentSigningKey(env: Env): Promise<SigningKey> {
  if (signingCache && Date.now() - signingCache.loadedAt < CACHE_TTL_MS) return signingCache.key;
  signingInFlight ??= (async () => {
    try {
      const row = await loadOrCreateCurrentKey(env);
      const jwk = JSON.parse(await openSecret(env.ACCESS_SECRETS_KEY, "access_signing_key", row.kid, row.private_jwk_ciphertext)) as JWK;
      const key = { kid: row.kid, privateKey: (await importJWK(jwk, "RS256")) as CryptoKey };
      signingCache = { key, loadedAt: Date.now() };
      return key;
    } finally {
      signingInFlight = null;
    }
  })();
  return signingInFlight;
}

// ---- Publishing and verification keys.

async function readPublished(env: Env): Promise<PublishedKeys> {
  await loadOrCreateCurrentKey(env);
  const now = new Date().toISOString();
  const { results } = await env.DB.prepare(
    "SELECT kid, public_jwk, cert_pem, created_at, rotated_at, retire_after FROM access_signing_keys WHERE retire_after IS NULL OR retire_after > ? ORDER BY rotated_at IS NOT NULL, created_at DESC",
  )
    .bind(now)
    .all<Omit<KeyRow, "private_jwk_ciphertext">>();
  const all = results.map((r) => ({ kid: r.kid, jwk: JSON.parse(r.public_jwk) as JWK, certPem: r.cert_pem, createdAt: r.created_at, retireAfter: r.retire_after }));
  const current = all[0];
  if (!current || current.retireAfter !== null) throw new Error("access signing key: no current key to publish");
  const jwks = { keys: all.map((k) => k.jwk) };
  return { current, all, byKid: new Map(all.map((k) => [k.kid, k])), jwks, keySet: createLocalJWKSet(jwks) };
}

function reloadPublished(env: Env): Promise<PublishedKeys> {
  publishedInFlight ??= readPublished(env)
    .then((keys) => {
      publishedCache = { keys, loadedAt: Date.now() };
      return keys;
    })
    .finally(() => {
      publishedInFlight = null;
    });
  return publishedInFlight;
}

/** Every published key, from this isolate's cache (refreshed every CACHE_TTL_MS). */
export async function publishedKeys(env: Env): Promise<PublishedKeys> {
  if (publishedCache && Date.now() - publishedCache.loadedAt < CACHE_TTL_MS) return publishedCache.keys;
  return reloadPublished(env);
}

/**
 * The published key named `kid`, or null. A kid missing from the cache triggers one D1 re-read
 * (a key rotated in another isolate), but at most once per UNKNOWN_KID_RELOAD_MS per isolate.
 * A key past `retire_after` is never returned, even from a cache loaded before it retired.
 */
export async function publishedKey(env: Env, kid: string): Promise<{ key: PublishedKey; keys: PublishedKeys } | null> {
  let keys = await publishedKeys(env);
  let key = keys.byKid.get(kid);
  if (!key && Date.now() - lastUnknownKidReload >= UNKNOWN_KID_RELOAD_MS) {
    lastUnknownKidReload = Date.now();
    keys = await reloadPublished(env);
    key = keys.byKid.get(kid);
  }
  if (!key || (key.retireAfter !== null && Date.parse(key.retireAfter) <= Date.now())) return null;
  return { key, keys };
}

// ---- Rotation.

/**
 * How long a key's tokens can outlive its rotation: the longest session any app or policy grants
 * (at least Cloudflare's default 24h), capped at MAX_TOKEN_LIFETIME_SECONDS, which signing
 * enforces; an unparseable duration counts as the cap.
 */
export async function longestSessionSeconds(db: D1Database): Promise<number> {
  const { results } = await db
    .prepare("SELECT session_duration AS d FROM access_apps UNION SELECT session_duration FROM access_policies WHERE session_duration IS NOT NULL")
    .all<{ d: string }>();
  let longest = DEFAULT_SESSION_SECONDS;
  for (const { d } of results) longest = Math.max(longest, parseDuration(d) ?? MAX_TOKEN_LIFETIME_SECONDS);
  return Math.min(longest, MAX_TOKEN_LIFETIME_SECONDS);
}

/** Statement deleting keys whose last token has expired. */
const pruneStatement = (db: D1Database, now: number) =>
  db.prepare("DELETE FROM access_signing_keys WHERE retire_after IS NOT NULL AND retire_after <= ?").bind(new Date(now).toISOString());

/**
 * One transaction: the current key (optionally only if made before `onlyIfCreatedBefore`) stops
 * signing and is kept published until its tokens expire; `next` becomes current only if that
 * update left no current key, so concurrent rotations cannot leave two current keys.
 */
async function rotate(env: Env, actor: string, now: number, reason: string, onlyIfCreatedBefore?: string): Promise<boolean> {
  const previous = await currentRow(env.DB);
  const next = await makeKey(env, now);
  const retireAfter = new Date(now + ((await longestSessionSeconds(env.DB)) + RETIRE_MARGIN_SECONDS) * 1000).toISOString();
  const rotatedAt = new Date(now).toISOString();
  const update = onlyIfCreatedBefore
    ? env.DB.prepare("UPDATE access_signing_keys SET rotated_at = ?, retire_after = ? WHERE rotated_at IS NULL AND created_at <= ?").bind(rotatedAt, retireAfter, onlyIfCreatedBefore)
    : env.DB.prepare("UPDATE access_signing_keys SET rotated_at = ?, retire_after = ? WHERE rotated_at IS NULL").bind(rotatedAt, retireAfter);
  const results = await env.DB.batch([
    pruneStatement(env.DB, now),
    update,
    insertIfNoCurrent(env.DB, next),
    auditIfCurrent(env.DB, next.kid, actor, "access.signing_key.rotate", { kid: next.kid, previous_kid: previous?.kid ?? null, previous_retire_after: retireAfter, reason }),
  ]);
  resetKeyCaches();
  return (results[2]?.meta.changes ?? 0) > 0;
}

/** Makes a new current signing key now; the previous one stays published until its tokens expire. */
export async function rotateSigningKey(env: Env, actor: string): Promise<void> {
  await rotate(env, actor, Date.now(), "requested");
}

/** Rotates when the current key is older than `key_rotation_interval_days`, and prunes retired keys; true if it rotated. */
export async function rotateIfDue(env: Env, now: number): Promise<boolean> {
  const current = await currentRow(env.DB);
  if (!current) {
    await pruneStatement(env.DB, now).run();
    return false; // first use makes the first key
  }
  const intervalMs = (await rotationIntervalDays(env.DB)) * DAY_MS;
  if (Date.parse(current.created_at) + intervalMs > now) {
    await pruneStatement(env.DB, now).run();
    return false;
  }
  // The age condition is repeated in the UPDATE: a concurrent run that rotated first leaves a
  // young current key, so this one changes nothing.
  return rotate(env, "system:cron", now, "scheduled", new Date(now - intervalMs).toISOString());
}

// ---- Settings (Cloudflare's `access/keys`).

/** `key_rotation_interval_days` from `access_settings`, or the default. */
export async function rotationIntervalDays(db: D1Database): Promise<number> {
  const row = await db.prepare("SELECT value FROM access_settings WHERE key = ?").bind(ROTATION_SETTING).first<{ value: string }>();
  const days = Number(row?.value);
  return Number.isInteger(days) && days >= ROTATION_INTERVAL_BOUNDS.min && days <= ROTATION_INTERVAL_BOUNDS.max ? days : DEFAULT_ROTATION_INTERVAL_DAYS;
}

/** Saves `key_rotation_interval_days` (already validated) with its audit row, in one batch. */
export async function setRotationIntervalDays(db: D1Database, days: number, actor: string): Promise<void> {
  await db.batch([
    db.prepare("INSERT INTO access_settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").bind(ROTATION_SETTING, String(days)),
    auditStatement(db, { actor, action: "access.keys.update", targetType: "access_settings", targetId: ROTATION_SETTING, details: { key_rotation_interval_days: days } }),
  ]);
}

/** Cloudflare's `GET /access/keys` result. */
export interface KeySettings {
  key_rotation_interval_days: number;
  last_key_rotation_at: string;
  days_until_next_rotation: number;
}

/** The rotation settings and when the current key (made on first use) was made. */
export async function keySettings(env: Env): Promise<KeySettings> {
  const current = await loadOrCreateCurrentKey(env);
  const interval = await rotationIntervalDays(env.DB);
  const now = Date.now(); // after the reads: a key made just now must not look a day ahead
  const dueAt = Date.parse(current.created_at) + interval * DAY_MS;
  return {
    key_rotation_interval_days: interval,
    last_key_rotation_at: current.created_at,
    days_until_next_rotation: Math.max(0, Math.ceil((dueAt - now) / DAY_MS)),
  };
}
