// An application's `domain` (a host plus an optional path prefix) and `origin`, validated and
// normalised when saved, and the request-side normalisation the lookup applies before matching.
// Everything here is pure.

/** A DNS label (letters, digits, inner hyphens; RFC 1123 §2.1). IP literals in brackets are refused. */
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/** Path segment characters (RFC 3986 §3.3 pchar) without `%`: a prefix is a literal, never an encoding. */
const SEGMENT = /^[A-Za-z0-9\-._~!$&'()+,;=:@]+$/;
const MAX_PREFIX_SEGMENTS = 16;

export interface NormalisedDomain {
  /** What the app stores and returns as `domain`: `host[:port][/prefix]`. */
  domain: string;
  /** Lower-case host, with `:port` when one was given. */
  host: string;
  /** `""` (the whole host) or `/a/b` (no trailing slash). */
  pathPrefix: string;
}

/** The `host[:port]` part: a lower-case DNS name and an optional non-default port. */
function normaliseHost(raw: string): { host: string } | { error: string } {
  if (raw.startsWith("[")) return { error: `"${raw}" is not a host name: IPv6 literals are not supported, use a DNS name` };
  const m = /^([^:]+)(?::(\d{1,5}))?$/.exec(raw);
  if (!m) return { error: "must be a host name with an optional port (app.example.com, app.example.com:8443)" };
  const name = (m[1] as string).toLowerCase();
  if (name.length > 253 || !name.split(".").every((l) => LABEL.test(l))) {
    return { error: `"${raw}" is not a host name (letters, digits, hyphens and dots; no wildcards, no IP literals in brackets)` };
  }
  if (m[2] !== undefined) {
    const port = Number(m[2]);
    if (port < 1 || port > 65535 || m[2] !== String(port)) return { error: `port "${m[2]}" must be a number from 1 to 65535 without leading zeros` };
    // A request URL never carries its scheme's default port (WHATWG URL), so such an app would never match.
    if (port === 80 || port === 443) return { error: "leave out the default ports 80 and 443" };
    return { host: `${name}:${port}` };
  }
  return { host: name };
}

/**
 * Validates and normalises `domain`: `app.example.com`, `App.Example.com/admin/`, `app.example.com:8443/x`.
 * Refused: schemes, wildcards, queries, fragments, credentials, `%`, empty or dot segments.
 */
export function normaliseDomain(input: unknown): NormalisedDomain | { error: string } {
  if (typeof input !== "string" || input.trim() === "") return { error: "domain: a host name with an optional path prefix is required (app.example.com or app.example.com/admin)" };
  const raw = input.trim();
  if (raw.length > 512) return { error: "domain: at most 512 characters" };
  if (raw.includes("://")) return { error: "domain: give the host without a scheme (app.example.com, not https://app.example.com)" };
  if (raw.includes("*")) return { error: "domain: wildcards are not supported; name one host and an optional path prefix" };
  if (/[?#]/.test(raw)) return { error: "domain: no query string or fragment; a path prefix matches every query" };
  if (/[\s@\\%]/.test(raw)) return { error: "domain: must not contain spaces, \"@\", \"\\\" or \"%\"" };
  const slash = raw.indexOf("/");
  const hostPart = slash === -1 ? raw : raw.slice(0, slash);
  const host = normaliseHost(hostPart.endsWith(".") ? hostPart.slice(0, -1) : hostPart);
  if ("error" in host) return { error: `domain: ${host.error}` };
  let pathPrefix = "";
  if (slash !== -1) {
    const segments = raw.slice(slash + 1).replace(/\/+$/, "").split("/");
    if (segments.length === 1 && segments[0] === "") segments.length = 0; // `host/` is the whole host
    if (segments.length > MAX_PREFIX_SEGMENTS) return { error: `domain: a path prefix has at most ${MAX_PREFIX_SEGMENTS} segments` };
    for (const s of segments) {
      if (s === "" || s === "." || s === "..") return { error: "domain: the path prefix has an empty, \".\" or \"..\" segment" };
      if (!SEGMENT.test(s)) return { error: `domain: the path segment "${s}" has characters outside RFC 3986 path characters` };
    }
    pathPrefix = segments.length === 0 ? "" : `/${segments.join("/")}`;
  }
  return { domain: `${host.host}${pathPrefix}`, host: host.host, pathPrefix };
}

/** The host name without its port, for comparing an app's host with the Worker's own. */
export function hostName(host: string): string {
  return host.replace(/:\d+$/, "").toLowerCase();
}

/** Validates `origin`: an absolute http(s) URL without credentials, query or fragment; returned without a trailing slash. */
export function normaliseOrigin(input: unknown): { origin: string } | { error: string } {
  if (typeof input !== "string" || input.trim() === "") return { error: "origin: the URL requests are forwarded to is required (https://internal.example.com)" };
  let url: URL;
  try {
    url = new URL(input.trim());
  } catch {
    return { error: `origin: "${input.slice(0, 200)}" is not an absolute URL` };
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return { error: "origin: must be an http or https URL" };
  if (url.username !== "" || url.password !== "") return { error: "origin: must not carry credentials (user:password@)" };
  if (url.hash !== "" || input.includes("#")) return { error: "origin: must not have a fragment" };
  if (url.search !== "" || input.includes("?")) return { error: "origin: must not have a query string" };
  return { origin: url.href.replace(/\/+$/, "") };
}

const UNRESERVED_ESCAPE = /%(2[DdEe]|3[0-9]|4[1-9A-Fa-f]|5[0-9Aa]|5[Ff]|6[1-9A-Fa-f]|7[0-9Aa]|7[Ee])/g;

/**
 * The request path as the lookup compares it: percent-encoded unreserved characters decoded
 * (RFC 3986 §6.2.2.2: `/%61dmin` and `/admin` are the same resource, so they select the same app).
 */
export function normaliseRequestPath(path: string): string {
  const p = path.startsWith("/") ? path : `/${path}`;
  return p.replace(UNRESERVED_ESCAPE, (e) => String.fromCharCode(Number.parseInt(e.slice(1), 16)));
}

/** The request host as the lookup compares it: lower case, without a trailing dot. */
export function normaliseRequestHost(host: string): string {
  return host.toLowerCase().replace(/\.(?=:\d+$|$)/, "");
}

/** The segments of a request path as a lenient origin reads them (see `candidatePrefixes`). */
function lenientSegments(path: string): string[] {
  return normaliseRequestPath(path)
    .split(/[/\\]|%2F|%5C/i) // a raw backslash too: the proxy is given Hono's decoded path, where `%5C` already is one
    .filter((s) => s !== ""); // no stored prefix has an empty segment
}

/**
 * The path a path-based rule is judged on: the same lenient reading as app matching (`//admin`,
 * `/admin%2F`, `/%61dmin` are all `/admin`), so a rule cannot be slipped past by spelling.
 */
export function lenientRequestPath(path: string): string {
  const segments = lenientSegments(path);
  const trailing = segments.length > 0 && /(?:[/\\]|%2F|%5C)$/i.test(path) ? "/" : "";
  return `/${segments.join("/")}${trailing}`;
}

/**
 * The prefixes a path can be matched by, longest first, at segment boundaries: `/a/b` → `/a/b`, `/a`, `""`.
 * Segments are split the way a lenient origin would read the path, so the app matched is never a
 * LESS specific one than the origin serves: empty segments are skipped (`//admin`: nginx's default
 * `merge_slashes` serves `/admin`) and `%2F`, `%5C` and a backslash count as separators (origins that decode them,
 * or IIS's backslash). Otherwise `//admin` or `/admin%2Fx` would fall to a bypass app on `/`.
 */
export function candidatePrefixes(path: string): string[] {
  const segments = lenientSegments(path).slice(0, MAX_PREFIX_SEGMENTS);
  const out = [""];
  let acc = "";
  for (const s of segments) {
    acc += `/${s}`;
    out.push(acc);
  }
  return out.reverse();
}
