import { importCursorKey } from "../scim/cursor";
import type { DirectoryContext } from "./context";

const encoder = new TextEncoder();

/** Per-isolate cache: deriving costs two WebCrypto imports and an HMAC; a provisioning walk asks for the same key per page. */
const cache = new Map<string, Promise<CryptoKey>>();
const CACHE_MAX = 256;

/**
 * The AES-GCM key that seals this connection's SCIM cursors (see `src/scim/cursor.ts`):
 * HMAC-SHA256(ADMIN_TOKEN, "scim-cursor/v1" ‖ idp id).
 * - Derived from the Worker secret, so an IdP that knows its own SCIM secret still cannot forge cursors.
 * - Per connection, so one connection's cursor never opens for another (tenant isolation).
 * - Only the connection id, which the path names, goes in: the key is needed to build the page query,
 *   which carries the authentication check with it (scim-gate.ts), before any other connection field
 *   may be read. A cursor grants nothing by itself: every page is authorized by the secret presented
 *   with it, and no result-set state outlives a request (RFC 9865 §5.2's alternative to invalidation).
 * Nothing here is logged or returned; the HMAC output never leaves the isolate.
 */
export function cursorKey(ctx: DirectoryContext): Promise<CryptoKey> {
  const id = ctx.idp.id;
  let key = cache.get(id);
  if (!key) {
    key = derive(ctx.env.ADMIN_TOKEN ?? "", id);
    if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
    cache.set(id, key);
    key.catch(() => cache.delete(id));
  }
  return key;
}

async function derive(workerSecret: string, idpId: string): Promise<CryptoKey> {
  // HMAC needs a non-empty key; ADMIN_TOKEN is a required secret (wrangler.toml), the fallback only keeps this total.
  const hmac = await crypto.subtle.importKey("raw", encoder.encode(workerSecret || "unset"), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const material = await crypto.subtle.sign("HMAC", hmac, encoder.encode(JSON.stringify(["scim-cursor/v1", idpId])));
  return importCursorKey(material);
}
