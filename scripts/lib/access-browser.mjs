// A minimal browser for driving an Access login against `npm run dev` from Node (scripts/smoke-dev.mjs):
// one request at a time, redirects followed by the caller (manual), and a cookie jar per host name
// (RFC 6265 §5.3: host-only cookies, Path matching, Max-Age=0 deletes). Cookies are `Secure`; a real
// browser keeps them on http://127.0.0.1 and http://*.localhost (potentially trustworthy origins),
// and so does this jar.
//
// Requests to `localhost` and `*.localhost` URLs connect to 127.0.0.1 on that port and send the
// URL's host as the Host header (what `curl -H 'Host: localhost:8787' http://127.0.0.1:8787/` does):
// Node may resolve `localhost` to ::1 first (wrangler dev listens on 127.0.0.1 only) and does not
// resolve `*.localhost` at all (getaddrinfo: ENOTFOUND).
// Only Node built-ins.

import { request as httpRequest } from "node:http";

/** Parses one `Set-Cookie` value into { name, value, path, maxAge, attrs }. */
export function parseSetCookie(header) {
  const [pair, ...rest] = header.split(";");
  const eq = pair.indexOf("=");
  const cookie = { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim(), path: "/", maxAge: undefined, attrs: {} };
  for (const part of rest) {
    const [k, ...v] = part.trim().split("=");
    const key = k.toLowerCase();
    const val = v.join("=");
    cookie.attrs[key] = val === "" ? true : val;
    if (key === "path" && val.startsWith("/")) cookie.path = val;
    if (key === "max-age") cookie.maxAge = Number(val);
  }
  return cookie;
}

const pathMatches = (requestPath, cookiePath) =>
  requestPath === cookiePath || (requestPath.startsWith(cookiePath) && (cookiePath.endsWith("/") || requestPath[cookiePath.length] === "/"));

export class Browser {
  /** host name → Map("name path" → cookie) */
  jar = new Map();

  /** The cookies a request to `url` carries, longest path first (RFC 6265 §5.4). */
  cookiesFor(url) {
    const u = new URL(url);
    return [...(this.jar.get(u.hostname)?.values() ?? [])].filter((c) => pathMatches(u.pathname, c.path)).sort((a, b) => b.path.length - a.path.length);
  }

  /** One cookie of `host` by name (the first with that name), or undefined. */
  cookie(host, name) {
    return [...(this.jar.get(host)?.values() ?? [])].find((c) => c.name === name);
  }

  store(url, setCookies) {
    const host = new URL(url).hostname;
    if (!this.jar.has(host)) this.jar.set(host, new Map());
    const cookies = this.jar.get(host);
    for (const raw of setCookies) {
      const c = parseSetCookie(raw);
      const key = `${c.name} ${c.path}`;
      if (c.maxAge !== undefined && c.maxAge <= 0) cookies.delete(key);
      else cookies.set(key, c);
    }
  }

  /** Sends one request (no redirect following) with the jar's cookies; stores what is set. */
  async send(url, { method = "GET", headers = {}, body, cookies = true } = {}) {
    const u = new URL(url);
    const sent = { ...headers };
    const jar = cookies ? this.cookiesFor(url) : [];
    if (jar.length > 0) sent.cookie = jar.map((c) => `${c.name}=${c.value}`).join("; ");
    if (body !== undefined) sent["content-length"] = Buffer.byteLength(body);
    const res = await rawRequest(u, method, sent, body);
    this.store(url, res.setCookies);
    return res;
  }
}

/** One HTTP/1.1 request; `*.localhost` is dialled on 127.0.0.1 with its Host header. */
function rawRequest(url, method, headers, body) {
  const loopbackAlias = url.hostname === "localhost" || url.hostname.endsWith(".localhost");
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: loopbackAlias ? "127.0.0.1" : url.hostname,
        port: url.port || 80,
        method,
        path: `${url.pathname}${url.search}`,
        headers: { host: url.host, ...headers },
        timeout: 30_000,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d) => (text += d));
        res.on("end", () => {
          const setCookie = res.headers["set-cookie"] ?? [];
          resolve({ status: res.statusCode, headers: res.headers, location: res.headers.location, setCookies: setCookie, text });
        });
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${method} ${url.href} timed out`)));
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

const unescapeHtml = (s) => s.replaceAll("&quot;", '"').replaceAll("&#39;", "'").replaceAll("&lt;", "<").replaceAll("&gt;", ">").replaceAll("&amp;", "&");

/** The hidden inputs of the first `<form>` in `html` (the development IdP's sign-in page). */
export function hiddenInputs(html) {
  const form = /<form\b[^>]*>([\s\S]*?)<\/form>/i.exec(html)?.[1] ?? "";
  const fields = {};
  for (const m of form.matchAll(/<input\b[^>]*type="hidden"[^>]*>/gi)) {
    const name = /\bname="([^"]*)"/.exec(m[0])?.[1];
    const value = /\bvalue="([^"]*)"/.exec(m[0])?.[1] ?? "";
    if (name) fields[unescapeHtml(name)] = unescapeHtml(value);
  }
  return fields;
}
