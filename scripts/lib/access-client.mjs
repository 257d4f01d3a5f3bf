// A scripted Access client for `wrangler dev` (the revocation probe and bench/access.mjs): logs a
// user in through the development IdP (/__dev/idp) by driving the redirects itself, and sends
// proxied requests to an app host; plus a tiny local origin that verifies the forwarded
// `Cf-Access-Jwt-Assertion` with nothing but the team host's /cdn-cgi/access/certs.
//
// Every host (the team host and each app host) is served by the same `wrangler dev`, so every
// request connects to `baseUrl` and names its host in the Host header: under wrangler dev a
// request to http://127.0.0.1:<port>/ with `Host: app.example.test` reaches the Worker as
// `http://app.example.test/` (src/access/routing.ts). Node's fetch cannot set Host, so this uses
// node:http with a keep-alive agent.
//
// Cookies: the Worker marks every cookie `Secure` (src/access/cookies.ts); a browser would not send
// them over http://, but this client is not a browser: it keeps each Set-Cookie by host (name →
// value, ignoring Path and Secure) and sends them back itself. Only Node built-ins.

import http from "node:http";
import { createPublicKey, verify as verifySignature } from "node:crypto";

/** A keep-alive agent for `maxSockets` concurrent requests. */
export function keepAliveAgent(maxSockets = 64) {
  return new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
}

/**
 * One request to `baseUrl`'s server for `url` (absolute; its host goes in the Host header).
 * Resolves `{ status, headers, setCookies, location, text, json() }`; never follows redirects.
 * Rejects on a network error.
 */
export function send(baseUrl, url, { method = "GET", headers = {}, body, agent, timeoutMs = 30_000 } = {}) {
  const server = new URL(baseUrl);
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: server.hostname.replace(/^\[|\]$/g, ""),
        port: server.port || 80,
        method,
        path: `${target.pathname}${target.search}`,
        headers: { host: target.host, ...headers, ...(body === undefined ? {} : { "content-length": Buffer.byteLength(body) }) },
        agent,
        timeout: timeoutMs,
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          const raw = res.headers["set-cookie"];
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            setCookies: Array.isArray(raw) ? raw : raw ? [raw] : [],
            location: typeof res.headers.location === "string" ? res.headers.location : null,
            text,
            json: () => JSON.parse(text),
          });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`timeout after ${timeoutMs} ms: ${method} ${url}`)));
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** Cookies by host, from Set-Cookie headers (RFC 6265 §5.2: name=value first; Max-Age=0 or an empty value deletes). */
export class CookieJar {
  #hosts = new Map();

  store(host, setCookies) {
    const jar = this.#hosts.get(host) ?? new Map();
    for (const line of setCookies) {
      const [pair, ...attrs] = line.split(";");
      const eq = pair.indexOf("=");
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const deleted = value === "" || attrs.some((a) => /^\s*max-age\s*=\s*0\s*$/i.test(a));
      if (deleted) jar.delete(name);
      else jar.set(name, value);
    }
    this.#hosts.set(host, jar);
  }

  get(host, name) {
    return this.#hosts.get(host)?.get(name);
  }

  header(host) {
    const jar = this.#hosts.get(host);
    return jar && jar.size ? [...jar].map(([k, v]) => `${k}=${v}`).join("; ") : undefined;
  }
}

/** The payload of a compact JWS, decoded without verifying (the Worker and the origin verify). */
export function jwtPayload(token) {
  return JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8"));
}

/**
 * Logs `email` in to the app at `http://<appHost><path>` the way a browser does, through the
 * development IdP: app → team `/cdn-cgi/access/login/<host>` → `/__dev/idp/authorize` (the form is
 * posted with the email) → team `/cdn-cgi/access/callback` → app `/cdn-cgi/access/authorized` →
 * back to the app. Resolves `{ token, claims, hops, via }`: the app's `CF_Authorization` value,
 * its claims, and how it was obtained (`cookie`, or `handoff-url` where wrangler dev blocks the
 * app host's /cdn-cgi/ paths, see below). Throws, naming the hop, when any step answers something else than the flow expects.
 */
export async function loginThroughDevIdp({ baseUrl, appHost, path = "/", email, agent }) {
  const jar = new CookieJar();
  const hops = [];
  const go = async (url, init = {}) => {
    const u = new URL(url);
    const cookie = jar.header(u.host);
    const res = await send(baseUrl, url, { ...init, agent, headers: { ...(init.headers ?? {}), ...(cookie ? { cookie } : {}) } });
    jar.store(u.host, res.setCookies);
    hops.push(`${init.method ?? "GET"} ${u.host}${u.pathname} → ${res.status}`);
    return res;
  };
  const expectRedirect = (res, what, pathPattern) => {
    const location = res.location ? new URL(res.location, baseUrl) : null;
    if (res.status !== 302 || !location || !pathPattern.test(location.pathname)) {
      throw new Error(`login of ${email}: ${what} answered ${res.status}${res.location ? ` → ${res.location}` : ""} (${res.text.replace(/<[^>]+>/g, " ").replace(/\s+/g, " ").trim().slice(0, 200)}); hops: ${hops.join(", ")}`);
    }
    return location;
  };

  const app = `http://${appHost}${path}`;
  const login = expectRedirect(await go(app), "the app without a session", /^\/cdn-cgi\/access\/login\//);
  const authorize = expectRedirect(await go(login.href), "the team login page", /\/__dev\/idp\/authorize$/);
  // The dev IdP's form (src/dev/idp.ts) posts back the authorization request's fields plus the email.
  const form = new URLSearchParams({ email });
  for (const name of ["client_id", "redirect_uri", "state", "nonce", "code_challenge", "scope"]) form.set(name, authorize.searchParams.get(name) ?? "");
  const callback = expectRedirect(
    await go(authorize.href, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: form.toString() }),
    "the development IdP",
    /^\/cdn-cgi\/access\/callback$/,
  );
  const authorized = expectRedirect(await go(callback.href), "the callback", /^\/cdn-cgi\/access\/authorized$/);
  const handOff = await go(authorized.href);
  let via = "cookie";
  if (handOff.status === 403 && handOff.text.trim() === "Invalid Host header") {
    // Miniflare (under `wrangler dev`) refuses any /cdn-cgi/* request whose Host is neither
    // localhost nor a configured route, before the Worker sees it; so the app host's
    // /cdn-cgi/access/authorized cannot run locally. The hand-off URL carries the same app token
    // the Worker would set as the cookie: take it from there (the proxied requests that follow
    // verify it, and it is only used if they answer 200).
    via = "handoff-url";
    const fromUrl = authorized.searchParams.get("token");
    if (fromUrl) jar.store(appHost, [`CF_Authorization=${fromUrl}`]);
  } else expectRedirect(handOff, "the app's authorized hand-off", /./);
  const token = jar.get(appHost, "CF_Authorization");
  if (!token) throw new Error(`login of ${email}: no CF_Authorization cookie for ${appHost}; hops: ${hops.join(", ")}`);
  return { token, claims: jwtPayload(token), hops, via };
}

/**
 * A local origin on 127.0.0.1 (a free port) that answers every request with
 * `{ path, email }` — `email` from the `Cf-Access-Jwt-Assertion` it verified against the team's
 * `/cdn-cgi/access/certs` (RS256, `iss` = the team, `aud` one of `audiences`, not expired), null
 * when the request carries none (a bypass app) — and 403 when an assertion does not verify.
 * Verified tokens are remembered (until they expire), so the origin's own cost stays small.
 */
export async function startVerifyingOrigin({ baseUrl, teamUrl = baseUrl, audiences = new Set() }) {
  let keys = null;
  const verified = new Map();
  const loadKeys = async () => {
    const res = await send(baseUrl, `${teamUrl}/cdn-cgi/access/certs`);
    if (res.status !== 200) throw new Error(`certs: HTTP ${res.status}`);
    keys = new Map(res.json().keys.map((jwk) => [jwk.kid, createPublicKey({ key: jwk, format: "jwk" })]));
  };
  const check = async (token) => {
    const now = Date.now() / 1000;
    const known = verified.get(token);
    if (known && known.exp > now) return known;
    const [h, p, s] = token.split(".");
    const header = JSON.parse(Buffer.from(h, "base64url").toString("utf8"));
    if (header.alg !== "RS256") throw new Error(`alg ${header.alg}`);
    if (!keys?.has(header.kid)) await loadKeys();
    const key = keys.get(header.kid);
    if (!key || !verifySignature("RSA-SHA256", Buffer.from(`${h}.${p}`), key, Buffer.from(s, "base64url"))) throw new Error("bad signature");
    const claims = JSON.parse(Buffer.from(p, "base64url").toString("utf8"));
    if (claims.iss !== teamUrl) throw new Error(`iss ${claims.iss}`);
    if (!Array.isArray(claims.aud) || !claims.aud.some((a) => audiences.has(a))) throw new Error("aud");
    if (!(claims.exp > now) || claims.nbf > now + 60) throw new Error("expired or not yet valid");
    verified.set(token, claims);
    return claims;
  };
  const hits = { total: 0, verified: 0, bypass: 0, refused: 0 };
  const server = http.createServer((req, res) => {
    hits.total++;
    req.resume();
    const assertion = req.headers["cf-access-jwt-assertion"];
    const answer = (status, body) => {
      res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
      res.end(JSON.stringify(body));
    };
    const path = new URL(req.url ?? "/", "http://origin").pathname;
    if (typeof assertion !== "string") {
      hits.bypass++;
      return answer(200, { path, email: null });
    }
    check(assertion).then(
      (claims) => {
        hits.verified++;
        answer(200, { path, email: claims.email });
      },
      (err) => {
        hits.refused++;
        answer(403, { error: `assertion refused: ${err.message}` });
      },
    );
  });
  server.keepAliveTimeout = 30_000;
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    audiences,
    hits,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
