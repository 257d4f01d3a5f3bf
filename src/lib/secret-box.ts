// Encryption at rest for secrets the Worker must read back (OIDC client secrets, Access signing
// keys): AES-256-GCM under a key derived with HKDF-SHA-256 from the ACCESS_SECRETS_KEY Worker
// secret. Each value is bound to what it is (`purpose`) and whose it is (`context`, e.g. the
// connection id) through GCM's additional data, so a ciphertext copied into another row or column
// fails to decrypt instead of being used as someone else's secret.
//
// Stored form: `v1.<base64url(12-byte IV)>.<base64url(ciphertext ‖ 16-byte tag)>`.

import { toBase64Url } from "./crypto";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const VERSION = "v1";
/** HKDF `info`: a distinct key per use of the master secret (RFC 5869 §3.2). */
const HKDF_INFO = encoder.encode("zt-identity-edge secret-box v1");
const MIN_SECRET_LENGTH = 32;

/** What a stored secret is: part of the additional data, so values cannot be swapped between uses. */
export type SecretPurpose = "idp_client_secret" | "access_signing_key" | "login_state" | "dev_idp_key" | "dev_idp_code";

const keys = new Map<string, Promise<CryptoKey>>();

/** The AES-GCM key for a master secret, derived once per isolate. */
function keyFor(master: string | undefined): Promise<CryptoKey> {
  if (!master || master.length < MIN_SECRET_LENGTH) {
    throw new Error(`ACCESS_SECRETS_KEY must be set to at least ${MIN_SECRET_LENGTH} characters (wrangler secret put ACCESS_SECRETS_KEY)`);
  }
  let key = keys.get(master);
  if (!key) {
    key = (async () => {
      const ikm = await crypto.subtle.importKey("raw", encoder.encode(master), "HKDF", false, ["deriveKey"]);
      return crypto.subtle.deriveKey(
        { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(32), info: HKDF_INFO },
        ikm,
        { name: "AES-GCM", length: 256 },
        false,
        ["encrypt", "decrypt"],
      );
    })();
    keys.set(master, key);
  }
  return key;
}

const aad = (purpose: SecretPurpose, context: string) => encoder.encode(`${purpose}\u0000${context}`);

/** Encrypts `plaintext` for storage; `context` (e.g. a row id) must be given again to decrypt. */
export async function sealSecret(master: string | undefined, purpose: SecretPurpose, context: string, plaintext: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: aad(purpose, context) }, await keyFor(master), encoder.encode(plaintext));
  return `${VERSION}.${toBase64Url(iv)}.${toBase64Url(new Uint8Array(sealed))}`;
}

/** Decrypts a value from `sealSecret`; throws when it was altered, moved or sealed under another key. */
export async function openSecret(master: string | undefined, purpose: SecretPurpose, context: string, stored: string): Promise<string> {
  const [version, iv, data] = stored.split(".");
  if (version !== VERSION || !iv || !data) throw new Error("secret-box: unrecognised ciphertext format");
  const opened = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: fromBase64Url(iv), additionalData: aad(purpose, context) },
    await keyFor(master),
    fromBase64Url(data),
  );
  return decoder.decode(opened);
}

function fromBase64Url(text: string): Uint8Array<ArrayBuffer> {
  const bin = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
