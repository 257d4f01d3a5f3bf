/**
 * Opaque cursors for RFC 9865 cursor pagination. Pure: WebCrypto only, no Hono, no D1.
 *
 * A cursor is a keyset position — the sort key and id of the row a page starts after (or before) —
 * sealed with AES-256-GCM. The additional authenticated data is the query the cursor belongs to
 * (resource type, connection, filter, sortBy, sortOrder), so:
 * - clients cannot read or forge positions (RFC 9865 §5.2: "obfuscate cursors values to prevent clients
 *   from interpreting cursors or forging new cursors"), and any tampering fails the GCM tag;
 * - a cursor replayed against another query, resource type or connection fails the tag as well
 *   (the key is also per connection, see `src/directory/cursor-key.ts`) → 400 `invalidCursor` (§2.1);
 * - nothing is stored per cursor (§5.3, availability), and the only server state is the key.
 * The token is base64url (RFC 4648 §5): only RFC 3986 §2.3 unreserved characters, as §2 requires.
 */

import { err, ok, scimErrors, type Result } from "./errors";

/** Seconds a cursor stays valid; advertised as `pagination.cursorTimeout` (RFC 9865 §4). */
export const CURSOR_TIMEOUT_SECONDS = 3600;

/** A keyset position: the row a page starts strictly after (`before: false`) or strictly before (`before: true`). */
export interface CursorPosition {
  /** The row's sort key (string, number or NULL: sort keys can be NULL, RFC 7644 §3.4.2.3). */
  key: string | number | null;
  id: string;
  before: boolean;
}

/** The query a cursor is bound to; a cursor only opens for exactly this query. */
export interface CursorBinding {
  resourceType: string;
  idpId: string;
  filter: string | undefined;
  sortBy: string | undefined;
  sortOrder: "ascending" | "descending";
}

const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** A cursor longer than this is refused before any crypto (positions are short; this bounds the work). */
const MAX_TOKEN_CHARS = 2048;
const TOKEN = /^[A-Za-z0-9_-]+$/;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The additional authenticated data for a query. Attribute names are case-insensitive (RFC 7643 §2.1), so
 * sortBy is lower-cased; the filter is kept verbatim (RFC 9865 §2: later requests repeat every parameter
 * "identical to the initial query"). Fields are JSON-encoded, so no value can run into the next one.
 */
export function bindingBytes(b: CursorBinding): Uint8Array {
  return encoder.encode(JSON.stringify(["scim-cursor", VERSION, b.resourceType, b.idpId, b.sortBy?.toLowerCase() ?? "", b.sortOrder, b.filter ?? ""]));
}

/** Seals a position for a query; `now` is the issue time in seconds (for `expiredCursor`). */
export async function encodeCursor(key: CryptoKey, position: CursorPosition, binding: CursorBinding, now: number): Promise<string> {
  const payload = encoder.encode(JSON.stringify({ k: position.key, i: position.id, b: position.before ? 1 : 0, t: Math.floor(now) }));
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: bindingBytes(binding) }, key, payload));
  const out = new Uint8Array(IV_BYTES + sealed.byteLength);
  out.set(iv, 0);
  out.set(sealed, IV_BYTES);
  return base64url(out);
}

/**
 * Opens a cursor for a query. Malformed, tampered, foreign (another query or connection) → `invalidCursor`;
 * authentic but older than {@link CURSOR_TIMEOUT_SECONDS} → `expiredCursor` (RFC 9865 §2.1). Every
 * `invalidCursor` has the same detail, so a failure reveals nothing about why (§5.2).
 */
export async function decodeCursor(key: CryptoKey, token: string, binding: CursorBinding, now: number): Promise<Result<CursorPosition>> {
  const invalid = err(scimErrors.invalidCursor("The cursor is invalid for this query: start again with an empty cursor, or use the nextCursor/previousCursor of a previous response."));
  if (token.length > MAX_TOKEN_CHARS || !TOKEN.test(token)) return invalid;
  const bytes = fromBase64url(token);
  if (!bytes || bytes.byteLength < IV_BYTES + TAG_BYTES + 2) return invalid;
  let plain: ArrayBuffer;
  try {
    plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: bytes.subarray(0, IV_BYTES), additionalData: bindingBytes(binding) }, key, bytes.subarray(IV_BYTES));
  } catch {
    return invalid;
  }
  let p: unknown;
  try {
    p = JSON.parse(decoder.decode(plain));
  } catch {
    return invalid;
  }
  // Authentic cursors were written by encodeCursor; the shape check guards against an older format only.
  if (!isPayload(p)) return invalid;
  const age = Math.floor(now) - p.t;
  if (age > CURSOR_TIMEOUT_SECONDS) {
    return err(scimErrors.expiredCursor(`The cursor has expired (cursors are valid for ${CURSOR_TIMEOUT_SECONDS} seconds): start again with an empty cursor.`));
  }
  // A cursor issued in the future (beyond clock skew between isolates) was not issued by this service.
  if (age < -300) return invalid;
  return ok({ key: p.k, id: p.i, before: p.b === 1 });
}

interface Payload {
  k: string | number | null;
  i: string;
  b: 0 | 1;
  t: number;
}

function isPayload(p: unknown): p is Payload {
  if (typeof p !== "object" || p === null) return false;
  const o = p as Record<string, unknown>;
  const k = o.k;
  return (k === null || typeof k === "string" || typeof k === "number") && typeof o.i === "string" && (o.b === 0 || o.b === 1) && Number.isInteger(o.t);
}

/** Imports 32 bytes of key material as an AES-256-GCM key for {@link encodeCursor}/{@link decodeCursor}. */
export function importCursorKey(raw: BufferSource): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", raw, { name: "AES-GCM" }, false, ["encrypt", "decrypt"]);
}

function base64url(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

function fromBase64url(s: string): Uint8Array | undefined {
  // Length ≡ 1 (mod 4) is never valid base64.
  if (s.length % 4 === 1) return undefined;
  try {
    const bin = atob(s.replaceAll("-", "+").replaceAll("_", "/"));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}
