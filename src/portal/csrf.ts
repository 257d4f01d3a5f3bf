// CSRF tokens for the portal's forms: HMAC-SHA-256 of the org session id under a key derived from
// ACCESS_SECRETS_KEY. Bound to the session, so a token from one login is useless in another, and
// needing no server state. Compared in constant time.
import { timingSafeEqualHex, toHex } from "../lib/crypto";

const encoder = new TextEncoder();
const keys = new Map<string, Promise<CryptoKey>>();

function key(master: string): Promise<CryptoKey> {
  let k = keys.get(master);
  if (!k) {
    k = crypto.subtle.importKey("raw", encoder.encode(`csrf\u0000${master}`), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    keys.set(master, k);
  }
  return k;
}

/** The CSRF token of the org session `sid` (hex). */
export async function csrfToken(env: Env, sid: string): Promise<string> {
  const mac = await crypto.subtle.sign("HMAC", await key(env.ACCESS_SECRETS_KEY), encoder.encode(`portal:${sid}`));
  return toHex(new Uint8Array(mac));
}

/** Whether `presented` is `sid`'s token. */
export async function csrfValid(env: Env, sid: string, presented: string): Promise<boolean> {
  if (!/^[0-9a-f]{64}$/.test(presented)) return false;
  return timingSafeEqualHex(presented, await csrfToken(env, sid));
}
