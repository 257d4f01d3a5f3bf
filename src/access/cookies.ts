// Cookies of the Access flow. Every cookie we set is HttpOnly and Secure with an explicit SameSite:
// the session cookies are Lax (a top-level navigation from the IdP or from the team host must carry
// them; cross-site subrequests must not), the login-state cookie too (the IdP's redirect back is a
// cross-site top-level GET). RFC 6265 §4.1 for the syntax.

/** Cloudflare's cookie name, on the team host (org session) and on every app host (app session). */
export const SESSION_COOKIE = "CF_Authorization";

/** Every value of cookie `name` in a `Cookie` header, in order (several apps on one host may each set one, by path). */
export function cookieValues(header: string | null | undefined, name: string): string[] {
  if (!header) return [];
  const out: string[] = [];
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (value) out.push(value);
  }
  return out;
}

export interface CookieOptions {
  path: string;
  /** Seconds; 0 deletes the cookie. */
  maxAge: number;
  sameSite?: "Lax" | "Strict";
}

/** A `Set-Cookie` value: always HttpOnly and Secure; host-only (no Domain), so it never reaches a sibling host. */
export function setCookie(name: string, value: string, { path, maxAge, sameSite = "Lax" }: CookieOptions): string {
  const age = Math.max(0, Math.floor(maxAge));
  const expires = age === 0 ? "; Expires=Thu, 01 Jan 1970 00:00:00 GMT" : "";
  return `${name}=${value}; Path=${path}; Max-Age=${age}${expires}; HttpOnly; Secure; SameSite=${sameSite}`;
}

/** Deletes a cookie set with `setCookie` at the same path. */
export function clearCookie(name: string, path: string): string {
  return setCookie(name, "", { path, maxAge: 0 });
}
