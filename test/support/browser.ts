import { exports } from "cloudflare:workers";
import type { FetchHandler } from "./fetch-router";

/** One stored cookie (RFC 6265 §5.3), host-only: the jar keys cookies by exact host. */
export interface StoredCookie {
  name: string;
  value: string;
  host: string;
  path: string;
  secure: boolean;
  httpOnly: boolean;
  sameSite: string | null;
  /** Epoch ms; `null` for a session cookie. */
  expiresAt: number | null;
}

/** One request the browser made while following redirects. */
export interface Hop {
  method: string;
  url: string;
  status: number;
  location: string | null;
}

export interface BrowserResult {
  /** The last response (not a redirect, or the one where `maxHops` ran out). */
  response: Response;
  /** The URL the last response came from. */
  url: string;
  /** Every request made, in order. */
  hops: Hop[];
}

export interface BrowserRequest {
  method?: string;
  headers?: Record<string, string>;
  /** A form body (sent as application/x-www-form-urlencoded) or raw text. */
  body?: URLSearchParams | string;
  /** Redirects followed at most (default 10); `0` returns the first response. */
  maxHops?: number;
}

/**
 * A minimal browser for login tests: a cookie jar and manual redirect following across the Worker
 * and the test's own hosts. Requests to a host in `external` (e.g. the test IdP) go to its handler;
 * every other host goes to the Worker under test (`exports.default.fetch`), which serves the team
 * host and every app host alike.
 *
 * The jar follows RFC 6265 where tests can observe it: cookies are host-only (a `Domain` attribute
 * is ignored: every cookie in this project is host-only), `Path` (default path per §5.1.4) and
 * path-match (§5.1.4), `Secure` (sent only over https), `Max-Age` (wins over `Expires`) and
 * `Expires`, deletion by `Max-Age<=0` or a past `Expires`; `HttpOnly` and `SameSite` are recorded
 * for assertions. Redirects: 301/302/303 turn into GET without a body, 307/308 keep method and body.
 */
export class Browser {
  private readonly jar = new Map<string, StoredCookie>();
  private readonly external: Record<string, FetchHandler>;

  constructor(options: { external?: Record<string, FetchHandler> } = {}) {
    this.external = options.external ?? {};
  }

  /** GET `url` and follow redirects. */
  get(url: string, init: Omit<BrowserRequest, "method" | "body"> = {}): Promise<BrowserResult> {
    return this.request(url, { ...init, method: "GET" });
  }

  /** POST a form (or text) to `url` and follow redirects. */
  post(url: string, body: URLSearchParams | string, init: Omit<BrowserRequest, "method" | "body"> = {}): Promise<BrowserResult> {
    return this.request(url, { ...init, method: "POST", body });
  }

  /** Any request, following redirects up to `maxHops`. */
  async request(url: string, init: BrowserRequest = {}): Promise<BrowserResult> {
    const maxHops = init.maxHops ?? 10;
    const hops: Hop[] = [];
    let method = (init.method ?? "GET").toUpperCase();
    let body = init.body;
    let current = new URL(url);
    for (;;) {
      const headers = new Headers(init.headers);
      if (body instanceof URLSearchParams && !headers.has("content-type")) headers.set("content-type", "application/x-www-form-urlencoded");
      const cookie = this.cookieHeader(current);
      if (cookie) headers.set("cookie", cookie);
      const request = new Request(current, { method, headers, body: body === undefined ? undefined : String(body), redirect: "manual" });
      const handler = this.external[current.host] ?? this.external[current.hostname];
      const response = handler ? await handler(request) : await exports.default.fetch(request);
      this.store(current, response.headers.getSetCookie());
      const location = response.headers.get("location");
      hops.push({ method, url: current.toString(), status: response.status, location });
      const redirect = [301, 302, 303, 307, 308].includes(response.status) && location !== null;
      if (!redirect || hops.length > maxHops) return { response, url: current.toString(), hops };
      await response.body?.cancel();
      current = new URL(location, current);
      if (response.status !== 307 && response.status !== 308) {
        method = "GET";
        body = undefined;
      }
    }
  }

  /** The live cookies stored for `host` (expired ones are dropped). */
  cookies(host: string): StoredCookie[] {
    this.evictExpired();
    return [...this.jar.values()].filter((c) => c.host === host);
  }

  /** One live cookie by host and name (any path), or undefined. */
  cookie(host: string, name: string): StoredCookie | undefined {
    return this.cookies(host).find((c) => c.name === name);
  }

  /** Puts a cookie in the jar directly (e.g. a forged or copied token). */
  setCookie(host: string, name: string, value: string, attrs: Partial<Omit<StoredCookie, "name" | "value" | "host">> = {}): void {
    const c: StoredCookie = { name, value, host, path: "/", secure: false, httpOnly: false, sameSite: null, expiresAt: null, ...attrs };
    this.jar.set(`${host}\u0000${c.path}\u0000${name}`, c);
  }

  /** Empties the jar (a new browser profile). */
  clear(): void {
    this.jar.clear();
  }

  private evictExpired(): void {
    const now = Date.now();
    for (const [key, c] of this.jar) if (c.expiresAt !== null && c.expiresAt <= now) this.jar.delete(key);
  }

  /** The `Cookie` header for a request (RFC 6265 §5.4: longer paths first). */
  private cookieHeader(url: URL): string {
    this.evictExpired();
    return [...this.jar.values()]
      .filter((c) => c.host === url.hostname && pathMatches(url.pathname, c.path) && (!c.secure || url.protocol === "https:"))
      .sort((a, b) => b.path.length - a.path.length)
      .map((c) => `${c.name}=${c.value}`)
      .join("; ");
  }

  private store(url: URL, setCookies: string[]): void {
    for (const header of setCookies) {
      const [pair = "", ...attrs] = header.split(";");
      const eq = pair.indexOf("=");
      if (eq <= 0) continue;
      const c: StoredCookie = {
        name: pair.slice(0, eq).trim(),
        value: pair.slice(eq + 1).trim(),
        host: url.hostname,
        path: defaultPath(url.pathname),
        secure: false,
        httpOnly: false,
        sameSite: null,
        expiresAt: null,
      };
      let maxAge: number | null = null;
      for (const attr of attrs) {
        const [rawKey = "", ...rest] = attr.split("=");
        const key = rawKey.trim().toLowerCase();
        const value = rest.join("=").trim();
        if (key === "path" && value.startsWith("/")) c.path = value;
        else if (key === "secure") c.secure = true;
        else if (key === "httponly") c.httpOnly = true;
        else if (key === "samesite") c.sameSite = value;
        else if (key === "max-age" && /^-?\d+$/.test(value)) maxAge = Number(value);
        else if (key === "expires" && !Number.isNaN(Date.parse(value))) c.expiresAt = Date.parse(value);
      }
      if (maxAge !== null) c.expiresAt = maxAge <= 0 ? 0 : Date.now() + maxAge * 1000;
      // A Secure cookie from an http URL is ignored (RFC 6265bis §5.7 step 8).
      if (c.secure && url.protocol !== "https:") continue;
      const key = `${c.host}\u0000${c.path}\u0000${c.name}`;
      if (c.expiresAt !== null && c.expiresAt <= Date.now()) this.jar.delete(key);
      else this.jar.set(key, c);
    }
  }
}

/** RFC 6265 §5.1.4 default-path: the request path up to, not including, its last `/`. */
function defaultPath(path: string): string {
  if (!path.startsWith("/") || path.lastIndexOf("/") === 0) return "/";
  return path.slice(0, path.lastIndexOf("/"));
}

/** RFC 6265 §5.1.4 path-match. */
function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith("/") || requestPath[cookiePath.length] === "/";
}
