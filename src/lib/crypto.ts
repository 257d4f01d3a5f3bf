const encoder = new TextEncoder();

/** SHA-256 of a UTF-8 string, lower-case hex. Secrets are stored only in this form. */
export async function sha256Hex(value: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(value));
  return toHex(new Uint8Array(digest));
}

/** Lower-case hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** `n` random bytes as lower-case hex (2n characters). */
export function randomHex(n: number): string {
  return toHex(crypto.getRandomValues(new Uint8Array(n)));
}

/** Base64url without padding (RFC 4648 §5), as JWTs and URL-safe tokens use it. */
export function toBase64Url(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

/**
 * Constant-time comparison of two equal-length hex digests. Both sides are hashes of fixed
 * length, so the length check leaks nothing about the secret.
 */
export function timingSafeEqualHex(a: string, b: string): boolean {
  const ab = encoder.encode(a);
  const bb = encoder.encode(b);
  if (ab.byteLength !== bb.byteLength) return false;
  return crypto.subtle.timingSafeEqual(ab, bb);
}

/** A new random secret: 32 bytes, base64url (256 bits of entropy). */
export function randomSecret(): string {
  return toBase64Url(crypto.getRandomValues(new Uint8Array(32)));
}
