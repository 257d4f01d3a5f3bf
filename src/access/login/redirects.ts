// Where the Access flow may send a browser. Only the app's own host and path prefix are accepted
// as return targets (no open redirect through the team host); everything is parsed with the URL
// parser first, so `//evil.example`, `\\evil.example`, `https://app@evil.example` and `..` tricks are
// judged on what a browser would actually load.

/** Whether `path` is `prefix` or below it, on a segment boundary (`/admin` holds `/admin/x`, not `/administrator`). */
export function pathWithinPrefix(path: string, prefix: string): boolean {
  if (prefix === "") return true;
  return path === prefix || path.startsWith(`${prefix}/`);
}

/** The parts of an app a redirect is checked against. */
export interface RedirectScope {
  host: string;
  pathPrefix: string;
}

/**
 * `raw` as a URL on the app's host and under its path prefix, or null. `https` is required unless
 * the team host itself is plain http (local development).
 */
export function checkAppRedirect(raw: string | null | undefined, app: RedirectScope, allowHttp: boolean): URL | null {
  if (!raw || raw.length > 4096) return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return null;
  }
  if (url.protocol !== "https:" && !(allowHttp && url.protocol === "http:")) return null;
  if (url.username || url.password) return null;
  if (url.host.toLowerCase() !== app.host.toLowerCase()) return null;
  if (!pathWithinPrefix(url.pathname, app.pathPrefix)) return null;
  url.hash = "";
  return url;
}

/** The app's own root (`https://host/prefix/`), the default return target. */
export function appRoot(app: RedirectScope, scheme: "http:" | "https:"): URL {
  return new URL(`${scheme}//${app.host}${app.pathPrefix || ""}/`);
}

/** The team host's own pages a login may return to (self-service portal: Gateway device enrollment). */
export const PORTAL_PREFIX = "/portal";

/** The admin dashboard (its own policy decides who may use it, see src/dashboard/gate.ts). */
export const DASHBOARD_PREFIX = "/dashboard";

/** `raw` as a URL on the team origin under PORTAL_PREFIX or DASHBOARD_PREFIX (default: the portal's root), or null. */
export function checkPortalRedirect(raw: string | null | undefined, team: string): URL | null {
  const teamUrl = new URL(team);
  if (!raw) return new URL(`${team}${PORTAL_PREFIX}/`);
  for (const pathPrefix of [PORTAL_PREFIX, DASHBOARD_PREFIX]) {
    const url = checkAppRedirect(raw, { host: teamUrl.host, pathPrefix }, teamUrl.protocol === "http:");
    if (url && url.protocol === teamUrl.protocol) return url;
  }
  return null;
}
